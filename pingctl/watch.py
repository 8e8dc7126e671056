"""`pingctl status --watch`: a daemon's status refreshed in place (a line per refresh when piped)."""

from __future__ import annotations

import json
import time

from pingctl import render
from pingctl.client import PingClient
from pingctl.errors import ClientError
from pingd.protocol import Status


def _rate(previous: tuple[float, int] | None, now: float, count: int) -> float | None:
    if previous is None or now <= previous[0]:
        return None
    return (count - previous[1]) / (now - previous[0])


def _line(info: Status, rate: float | None) -> str:
    rate_text = "" if rate is None else f" ({rate:+.1f}/s)"
    return (
        f"{time.strftime('%H:%M:%S')} {render.shown(info.name)}: count {info.count}{rate_text}, "
        f"served {info.pings_served}, uptime {render.duration(info.uptime_seconds)}, "
        f"storage {render.shown(info.storage)}"
    )


def watch_status(client: PingClient, first: Status, every: float, *, json_output: bool, live: bool) -> None:
    """Refresh until interrupted. A daemon that stops answering is shown, not fatal."""
    view = None
    if live:
        from rich.console import Console
        from rich.live import Live
        from rich.text import Text

        view = Live(console=Console(highlight=False), refresh_per_second=4, transient=False)
        view.__enter__()
    try:
        info: Status | None = first
        previous: tuple[float, int] | None = None
        next_at = time.monotonic()
        while True:
            now = time.monotonic()
            rate = _rate(previous, now, info.count) if info is not None else None
            if info is not None:
                previous = (now, info.count)
            if json_output:
                document = info.to_json() if info is not None else {"error": "no answer"}
                print(json.dumps({**document, "rate_per_second": rate}), flush=True)
            elif view is not None:
                lines = (
                    render.status_lines(client.target, info) if info else [f"no answer from {client.target.display}"]
                )
                if rate is not None:
                    lines.append(f"  rate         {rate:.1f} pings/s")
                view.update(Text("\n".join(lines)))
            else:
                print(_line(info, rate) if info else f"{time.strftime('%H:%M:%S')} no answer", flush=True)
            next_at += every
            time.sleep(max(0.0, next_at - time.monotonic()))
            try:
                info = client.status()
            except ClientError:
                info = None
    finally:
        if view is not None:
            view.__exit__(None, None, None)
