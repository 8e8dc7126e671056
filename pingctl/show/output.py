"""Where pingctl's output goes, one class per way of showing it, shared by `ping` and
`status --watch`:

- ``PlainOutput``: piped or redirected: a header, then one line per event (a pong, a
  refresh), as ping and vmstat print;
- ``QuietOutput``: nothing until the command's own summary (`ping --quiet`);
- ``JsonOutput``: only documents, one JSON object per line (`status --watch --json`); `ping
  --json` prints its one document at the end itself;
- ``LiveOutput``: a terminal: event lines scroll above a panel redrawn in place (ping's
  progress bar, the watched status). Imported only for terminals: rich costs start-up time
  that pipes and scripts should not pay.

A panel is a list of (text, style) segments, so what a command shows stays in the command
and the styling in one place.
"""

from __future__ import annotations

import json
from typing import Any

Segments = list[tuple[str, str]]


class PlainOutput:
    #: Whether event lines and panels are shown at all: a caller on a hot path (a ping per
    #: event) builds them only when they are.
    shows_events = True
    shows_panels = False

    def __enter__(self) -> PlainOutput:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def header(self, text: str) -> None:
        print(text, flush=True)

    def event(self, text: str, *, failed: bool = False) -> None:
        print(text, flush=True)

    def panel(self, segments: Segments) -> None:
        """Piped output has no place redrawn in place."""

    def document(self, obj: dict[str, Any]) -> None:
        """Documents are JSON output's."""

    def state(self, line: str, segments: Segments, document: dict[str, Any]) -> None:
        """A new state of something watched, given three ways; each output shows its own."""
        print(line, flush=True)


class QuietOutput(PlainOutput):
    shows_events = False

    def header(self, text: str) -> None:
        pass

    def event(self, text: str, *, failed: bool = False) -> None:
        pass

    def state(self, line: str, segments: Segments, document: dict[str, Any]) -> None:
        pass


class JsonOutput(QuietOutput):
    def document(self, obj: dict[str, Any]) -> None:
        print(json.dumps(obj), flush=True)

    def state(self, line: str, segments: Segments, document: dict[str, Any]) -> None:
        self.document(document)


class LiveOutput(PlainOutput):
    shows_panels = True

    def __init__(self, *, color: bool, transient: bool) -> None:
        from rich.console import Console
        from rich.live import Live
        from rich.text import Text

        self._text = Text
        self.console = Console(no_color=not color, highlight=False)
        self._live = Live(Text(""), console=self.console, refresh_per_second=10, transient=transient)

    def __enter__(self) -> LiveOutput:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._live.__exit__(*exc)

    def header(self, text: str) -> None:
        self.console.print(self._text(text, style="bold"))

    def event(self, text: str, *, failed: bool = False) -> None:
        self.console.print(self._text(text, style="bold red" if failed else ""))

    def panel(self, segments: Segments) -> None:
        text = self._text()
        for part, style in segments:
            text.append(part, style=style)
        self._live.update(text)

    def state(self, line: str, segments: Segments, document: dict[str, Any]) -> None:
        self.panel(segments)


#: Any of the outputs above: each has PlainOutput's methods, and shows them its own way.
Output = PlainOutput


def choose(*, json_output: bool = False, quiet: bool = False, terminal: bool, color: bool, transient: bool) -> Output:
    """The output for these flags and this stdout."""
    if json_output:
        return JsonOutput()
    if quiet:
        return QuietOutput()
    if terminal:
        return LiveOutput(color=color, transient=transient)
    return PlainOutput()
