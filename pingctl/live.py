"""The live view of a ping session on a terminal: per-pong lines scrolling above a status bar
(progress, last RTT, running min/avg/max, loss, server count). Imported only for terminals:
rich costs start-up time that pipes and scripts should not pay."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.live import Live
from rich.text import Text

from pingctl import render
from pingctl.client import PingResult, Target
from pingctl.stats import Running


class LiveView:
    def __init__(self, target: Target, count: int, timeout: float, running: Running, *, color: bool) -> None:
        self.console = Console(no_color=not color, highlight=False)
        self.target = target
        self.count = count
        self.timeout = timeout
        self.running = running
        self.server_count: int | None = None
        self._live = Live(self._bar(), console=self.console, refresh_per_second=10, transient=True)

    def __enter__(self) -> LiveView:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._live.__exit__(*exc)

    def print(self, line: str, style: str | None = None) -> None:
        self.console.print(Text(line, style=style or ""))

    def result(self, index: int, result: PingResult) -> None:
        if result.count is not None:
            self.server_count = result.count
        style = None if result.ok else "bold red"
        self.print(render.result_line(index, result, self.target, self.timeout), style)
        self._live.update(self._bar())

    def _bar(self) -> Text:
        r = self.running
        total = f"/{self.count}" if self.count else ""
        bar = Text(f" {r.sent}{total} ", style="reverse")
        if r.last is not None:
            bar.append(f"  last {r.last:.3f} ms  min/avg/max {r.min:.3f}/{r.mean:.3f}/{r.max:.3f} ms")
        loss_style = "bold red" if r.sent != r.received else "green"
        bar.append(f"  loss {r.loss_percent:.1f}%", style=loss_style)
        if self.server_count is not None:
            bar.append(f"  server count {self.server_count}")
        return bar
