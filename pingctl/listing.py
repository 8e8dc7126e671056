"""`pingctl discover`'s work: the daemons discovery finds, as a table or JSON, or watched as
they come and go.

Watching: a live list on a terminal; piped, an event line per change (``+ name
address:port node version`` / ``- name``); with --json, one object per event. Over mDNS the
watcher hears announcements and goodbyes; in a DNS domain it asks again every 5 s.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

from pingctl.connect import browse
from pingctl.errors import EXIT_NO_REPLY, EXIT_OK
from pingctl.find.found import Found
from pingctl.show import output, render
from pingctl.show.text import shown

HEADER = ("NAME", "ADDRESSES", "PORT", "VERSION", "NODE ID")


def discover(timeout: float, interfaces: tuple[str, ...], domain: str | None, *, json_output: bool, watch: bool) -> int:
    """`pingctl discover`: the exit code is 1 when daemons were seen but none could be listed."""
    if watch:
        try:
            _watch(interfaces, json_output, domain)
        except KeyboardInterrupt:
            pass
        return EXIT_OK
    seen = browse(timeout, interfaces, domain)
    found = seen.found
    if json_output:
        print(json.dumps([f.as_dict() for f in found], indent=2))
    elif not found and not seen.unresolved and not seen.ignored:
        print(f"no pingd {f'registered in {domain}' if domain else f'found within {timeout:g} s'}", file=sys.stderr)
    if json_output or not found:
        # Some were seen, but none could be listed: say so in the exit code too.
        return EXIT_NO_REPLY if seen.unresolved and not found else EXIT_OK
    rows: list[tuple[str, ...]] = [(*HEADER, "HOST")]
    rows += [(f.name, ",".join(f.addresses), str(f.port), f.version or "?", f.node_id or "?", f.host) for f in found]
    print("\n".join(render.table(rows)))
    return EXIT_OK


def _watch(interfaces: tuple[str, ...], json_output: bool, domain: str | None) -> None:
    """Until Ctrl-C: each change shown the output's way (a line, the redrawn list, a document)."""
    events, listening = _events(interfaces, domain)
    out = output.choose(json_output=json_output, terminal=sys.stdout.isatty(), color=True, transient=False)
    present: dict[str, Found] = {}
    with out:
        out.panel([(f"({listening} for pingd daemons; Ctrl-C to stop)", "")])
        for what in events:
            if isinstance(what, Found):
                present[what.name] = what
                where = ",".join(t.display for t in what.targets())
                line = f"+ {what.name} {where} {what.node_id or '?'} {what.version or '?'}"
                document = {"event": "added", **what.as_dict()}
            else:
                present.pop(what, None)
                line, document = f"- {what}", {"event": "removed", "name": what}
            out.state(shown(line), [("\n".join(render.table(present_rows(present))), "")], document)


def present_rows(present: dict[str, Found]) -> list[tuple[str, ...]]:
    """The watched list: a header, then a row per daemon present, by name."""
    rows: list[tuple[str, ...]] = [HEADER]
    rows += [
        (f.name, ",".join(f.addresses), str(f.port), f.version or "?", f.node_id or "?")
        for f in sorted(present.values(), key=lambda f: f.name.lower())
    ]
    return rows


def _events(interfaces: tuple[str, ...], domain: str | None) -> tuple[Iterator[Found | str], str]:
    """The watcher's events (a daemon found, or the name of one gone), and how it listens."""
    if domain is not None:
        from pingctl.find import widearea

        return widearea.watch(domain), f"asking {domain} every {widearea.WATCH_EVERY:g} s"
    from pingctl.find import watch

    return watch.watch(interfaces), "listening"
