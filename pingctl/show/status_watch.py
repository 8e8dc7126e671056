"""`pingctl status --watch`: a daemon's status refreshed in place (a line per refresh when piped)."""

from __future__ import annotations

import time
from typing import Any

from pingctl.client import PingClient
from pingctl.errors import ClientError
from pingctl.show import render
from pingctl.show.output import PlainOutput, Segments
from pingd.shared.protocol import Status


def _rate(previous: tuple[float, int] | None, now: float, count: int) -> float | None:
    if previous is None or now <= previous[0]:
        return None
    return (count - previous[1]) / (now - previous[0])


def _line(info: Status | None, rate: float | None) -> str:
    if info is None:
        return f"{time.strftime('%H:%M:%S')} no answer"
    rate_text = "" if rate is None else f" ({rate:+.1f}/s)"
    return (
        f"{time.strftime('%H:%M:%S')} {render.shown(info.name)}: count {info.count}{rate_text}, "
        f"served {info.pings_served}, uptime {render.duration(info.uptime_seconds)}, "
        f"storage {render.shown(info.storage)}"
    )


def watch_status(client: PingClient, first: Status, every: float, out: PlainOutput) -> None:
    """Refresh until interrupted, each state shown the output's way (a line when piped, a
    panel redrawn in place on a terminal, a JSON object per line with --json). A daemon that
    stops answering is shown, not fatal."""
    info: Status | None = first
    previous: tuple[float, int] | None = None
    next_at = time.monotonic()
    with out:
        while True:
            now = time.monotonic()
            rate = _rate(previous, now, info.count) if info is not None else None
            if info is not None:
                previous = (now, info.count)
            out.state(_line(info, rate), _panel(client, info, rate), _document(info, rate))
            next_at += every
            time.sleep(max(0.0, next_at - time.monotonic()))
            try:
                info = client.status()
            except ClientError:
                info = None


def _panel(client: PingClient, info: Status | None, rate: float | None) -> Segments:
    lines = render.status_lines(client.target, info) if info else [f"no answer from {client.target.display}"]
    if rate is not None:
        lines.append(f"  rate         {rate:.1f} pings/s")
    return [("\n".join(lines), "")]


def _document(info: Status | None, rate: float | None) -> dict[str, Any]:
    document = info.to_json() if info is not None else {"error": "no answer"}
    return {**document, "rate_per_second": rate}
