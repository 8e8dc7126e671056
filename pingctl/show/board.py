"""`ping --all`'s view of many sessions: one lane per daemon, shown three ways.

- ``rows``: the live table, one row per daemon, redrawn in place on a terminal;
- ``summary_lines``: fping's summary, one line per daemon, for pipes and ``--quiet``;
- ``documents``: for ``--json``, the document ``ping --json`` prints, one per daemon.

A lane reads its session's results from the drawing thread while the session's own thread
appends to them; it takes only what is new since the last redraw, so a redraw costs the
pings since the last one, not the whole session.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pingctl.client import Target
from pingctl.session import Session
from pingctl.show import render
from pingctl.show.text import shown
from pingctl.stats import Ordered, Running
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
    running: Running = field(default_factory=Running)
    ordered: Ordered = field(default_factory=Ordered)
    last_count: int | None = None
    _seen: int = 0

    def catch_up(self) -> None:
        """Take in the results that came since the last call."""
        if self.session is None:
            return
        new = self.session.results[self._seen :]
        self._seen += len(new)
        rtts = []
        for result in new:
            ok = result.ok
            self.running.add(result.rtt_ms if ok else None)
            if ok:
                rtts.append(result.rtt_ms)
            if result.count is not None:
                self.last_count = result.count
        self.ordered.extend(rtts)  # type: ignore[arg-type]  # ok means rtt_ms is a float

    @property
    def answered(self) -> bool:
        return self.session is not None and any(r.ok for r in self.session.results)


HEADER = ("NAME", "ADDRESS", "SENT", "RECV", "LOSS", "LAST", "AVG", "P50", "MAX", "COUNT", "")


def rows(lanes: list[Lane]) -> list[tuple[str, ...]]:
    """The live table: what each session has done so far (ms for the round trips)."""
    table: list[tuple[str, ...]] = [HEADER]
    for lane in lanes:
        lane.catch_up()
        if lane.session is None:
            table.append((lane.name, lane.where, *("-" * 8), lane.error or ""))
            continue
        r = lane.running
        got = r.received > 0
        p50 = lane.ordered.percentile(50)
        table.append((
            lane.name, lane.where, str(r.sent), str(r.received), f"{r.loss_percent:.0f}%",
            _ms(r.last), _ms(r.mean if got else None), _ms(p50), _ms(r.max if got else None),
            "-" if lane.last_count is None else str(lane.last_count), "",
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
        if lane.session.last_count is not None:
            line += f", count {lane.session.last_count}"
        lines.append(line)
    return lines


def interim_lines(lanes: list[Lane]) -> list[str]:
    """What SIGQUIT prints during `ping --all`: each session so far, one line each."""
    lines = []
    for lane in lanes:
        if lane.session is None:
            continue
        running = Running()
        for result in list(lane.session.results):
            running.add(result.rtt_ms if result.ok else None)
        lines.append(f"{shown(lane.name)}: {render.interim_line(running)}")
    return lines


def documents(lanes: list[Lane], samples: bool = False) -> list[dict[str, Any]]:
    """``ping --json``'s document for each daemon; for one without a session, why."""
    out: list[dict[str, Any]] = []
    for lane in lanes:
        session, target, status = lane.session, lane.target, lane.status
        if session is None or target is None or status is None:
            out.append({"name": lane.name, "address": lane.where, "error": lane.error})
            continue
        document = render.session_json(session.summary(), session.last_count, target, status)
        if samples:
            document["samples"] = render.samples_json(session.results)
        out.append(document)
    return out


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
