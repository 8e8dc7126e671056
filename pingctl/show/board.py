"""`ping --all`'s view of many sessions: one lane per daemon, shown three ways.

- ``rows``: the live table, one row per daemon, redrawn in place on a terminal;
- ``summary_lines``: fping's summary, one line per daemon, for pipes and ``--quiet``;
- ``documents``: for ``--json``, the document ``ping --json`` prints, one per daemon.

Every figure comes from the lane's session's observer, which keeps each result once: a redraw
reads a consistent copy of its figures while the session's own thread goes on recording, and
sorts only the round trips that came since the last redraw (for the median).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pingctl.model import Target
from pingctl.session import Session
from pingctl.show import render
from pingctl.show.text import shown
from pingd.shared.protocol import Status


@dataclass
class Lane:
    """One daemon: its session, or (``error``, worded for the user) why it has none."""

    name: str
    where: str  # host:port it answered on (or was announced on)
    session: Session | None = None
    target: Target | None = None
    status: Status | None = None
    error: str | None = None

    @property
    def answered(self) -> bool:
        return self.session is not None and self.session.observer.answered


HEADER = ("NAME", "ADDRESS", "SENT", "RECV", "LOSS", "LAST", "AVG", "P50", "MAX", "COUNT", "")


def rows(lanes: list[Lane]) -> list[tuple[str, ...]]:
    """The live table: what each session has done so far (ms for the round trips)."""
    table: list[tuple[str, ...]] = [HEADER]
    for lane in lanes:
        if lane.session is None:
            table.append((lane.name, lane.where, *("-" * 8), lane.error or ""))
            continue
        figures = lane.session.observer.figures(p50=True)
        r = figures.running
        got = r.received > 0
        table.append((
            lane.name, lane.where, str(r.sent), str(r.received), f"{r.loss_percent:.0f}%",
            _ms(r.last), _ms(r.mean if got else None), _ms(figures.p50), _ms(r.max if got else None),
            "-" if figures.last_count is None else str(figures.last_count), "",
        ))  # fmt: skip
    return table


def summary_lines(lanes: list[Lane]) -> list[str]:
    """fping -c's summary: ``name (address) : xmt/rcv/%loss = 10/10/0%, min/avg/max = …``."""
    labels = [f"{shown(lane.name)} ({lane.where})" for lane in lanes]
    width = max(map(len, labels), default=0)
    lines = []
    for label, lane in zip(labels, lanes, strict=True):
        if lane.session is None:
            lines.append(f"{label:<{width}} : {shown(lane.error or 'no session')}")
            continue
        s = lane.session.summary()
        line = f"{label:<{width}} : xmt/rcv/%loss = {s.sent}/{s.received}/{s.loss_percent:.0f}%"
        if s.rtt is not None:
            rtt = s.rtt
            line += f", min/avg/max = {rtt.min:.3f}/{rtt.avg:.3f}/{rtt.max:.3f}, p50 = {rtt.p50:.3f} ms"
        last_count = lane.session.observer.last_count
        if last_count is not None:
            line += f", count {last_count}"
        lines.append(line)
    return lines


def interim_lines(lanes: list[Lane]) -> list[str]:
    """What SIGQUIT prints during `ping --all`: each session so far, one line each."""
    return [
        f"{shown(lane.name)}: {render.interim_line(lane.session.observer.figures().running)}"
        for lane in lanes
        if lane.session is not None
    ]


def documents(lanes: list[Lane], samples: bool = False) -> list[dict[str, Any]]:
    """``ping --json``'s document for each daemon; for one without a session, why."""
    out: list[dict[str, Any]] = []
    for lane in lanes:
        session, target, status = lane.session, lane.target, lane.status
        if session is None or target is None or status is None:
            out.append({"name": lane.name, "address": lane.where, "error": lane.error})
            continue
        observer = session.observer
        document = render.session_json(session.summary(), observer.last_count, target, status)
        if samples:
            document["samples"] = render.samples_json(observer.results())
        out.append(document)
    return out


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
