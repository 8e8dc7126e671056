"""`pingctl ping`'s work: sessions against one daemon or several, their live views, and the
report at the end.

One daemon: a session shown live (its observer's listener prints each pong and redraws the
progress bar), then ping's summary (or one JSON document). Several (``--all``, or several
``--name``): a session per daemon, started a fraction of the interval apart, shown as one
board redrawn in place, then fping's summary lines (or a list of JSON documents). One session
runs in a thread of its own (``pingctl.session.run``); several run from one poll loop
(``pingctl.multiplex.run``). Either way SIGQUIT prints the figures so far, and every figure
shown comes from the sessions' observers.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

import zmq

from pingctl import fleet, multiplex
from pingctl import session as sessions
from pingctl.client import PingClient
from pingctl.connect import Wanted, WantedAll, choose_all, connect, reach_all, searched
from pingctl.errors import EXIT_NO_REPLY, EXIT_OK, NoAnswer, NoReply, PingctlError, explain, no_reply
from pingctl.model import PingResult, Target
from pingctl.observer import Listener, Observer
from pingctl.session import Schedule, Session
from pingctl.show import board, output, render
from pingctl.show.output import Output
from pingctl.stats import histogram as make_histogram
from pingd.shared.protocol import Status


@dataclass(frozen=True, slots=True)
class View:
    """How the outcome is shown, as the flags say."""

    json_output: bool = False
    quiet: bool = False
    samples: bool = False  # with json_output: every ping's result
    histogram: bool = False  # one daemon only
    color: bool = True


def ping(who: Wanted | WantedAll, schedule: Schedule, view: View) -> int:
    """`pingctl ping`, for one daemon or several. The exit code: for one daemon, 0 if a pong
    came back, 1 if none did; for several, 0 if every daemon answered, 1 if some did not."""
    if isinstance(who, WantedAll):
        return _ping_all(who, schedule, view)
    return _ping_one(who, schedule, view)


@contextmanager
def interim_on_sigquit(lines: Callable[[], str]) -> Iterator[None]:
    """Within the block, SIGQUIT (Ctrl-\\) prints ``lines()`` to stderr and goes on, as ping does."""

    def interim(signum: int, frame: FrameType | None) -> None:
        print(lines(), file=sys.stderr, flush=True)

    previous = signal.signal(signal.SIGQUIT, interim)
    try:
        yield
    finally:
        signal.signal(signal.SIGQUIT, previous)


def _ping_one(wanted: Wanted, schedule: Schedule, view: View) -> int:
    observer = Observer()
    # From the start, so SIGQUIT (Ctrl-\) during discovery shows "0/0" instead of killing pingctl.
    with interim_on_sigquit(lambda: render.interim_line(observer.figures().running)):
        context = zmq.Context()
        client, status = _reach(wanted, schedule.timeout, view.json_output, context)
        try:
            out = output.choose(
                json_output=view.json_output,
                quiet=view.quiet,
                terminal=sys.stdout.isatty(),
                transient=True,
                color=view.color,
            )
            observer.listener = live_view(out, client.target, schedule, observer)
            session = Session(client, schedule.count, schedule.interval, schedule.deadline, observer=observer)
            out.header(render.session_header(client.target, schedule.count, schedule.interval, status))
            _run(lambda: sessions.run([session], interrupt=context.term), out)
        finally:
            client.close()
    print(_report(session, client.target, status, view))
    return EXIT_OK if observer.answered else EXIT_NO_REPLY


def _reach(wanted: Wanted, timeout: float, quiet: bool, context: zmq.Context) -> tuple[PingClient, Status]:
    """The daemon to ping. One that takes the connection and never answers ends ping as no pong
    does (exit 1, as iputils ping when no reply comes); nothing reachable stays an error (2)."""
    try:
        return connect(wanted, timeout, quiet=quiet, context=context)
    except NoAnswer as exc:
        if not no_reply(exc):
            raise
        raise PingctlError(explain(exc), EXIT_NO_REPLY) from None
    except NoReply as exc:
        raise PingctlError(str(exc), EXIT_NO_REPLY) from None


def live_view(out: Output, target: Target, schedule: Schedule, observer: Observer) -> Listener | None:
    """What one session shows of each result as it comes: a line per ping, the progress bar;
    None when the output shows neither (--json, --quiet), so the hot path calls nothing."""
    events, panels = out.shows_events, out.shows_panels
    if not events and not panels:
        return None

    def show(index: int, result: PingResult) -> None:
        if events:
            out.event(render.result_line(index, result, target, schedule.timeout), failed=not result.ok)
        if panels:
            figures = observer.figures()
            out.panel(render.progress(figures.running, schedule.count, figures.last_count))

    return show


def _report(session: Session, target: Target, status: Status, view: View) -> str:
    """One session's report: ping's summary (and histogram), or its JSON document."""
    observer = session.observer
    summary = session.summary()
    buckets = make_histogram(observer.rtts()) if view.histogram else []
    if view.json_output:
        report = render.session_json(summary, observer.last_count, target, status)
        if view.histogram:
            report["histogram"] = render.histogram_json(buckets)
        if view.samples:
            report["samples"] = render.samples_json(observer.results())
        return json.dumps(report, indent=2)
    lines = render.summary_lines(status.name or target.display, summary, observer.last_count)
    if view.histogram:
        lines += render.histogram_lines(buckets)
    return "\n".join(lines if view.quiet else ["", *lines])  # a blank line after the pong lines


def _run(run: Callable[[], object], out: Output) -> None:
    """``run`` the sessions with ``out`` open; Ctrl-C ends them, and the report shows what ran."""
    try:
        with out:
            run()
    except KeyboardInterrupt:
        pass


def _ping_all(who: WantedAll, schedule: Schedule, view: View) -> int:
    found, missing = choose_all(who)
    context = fleet.context_for(len(found))
    answers = reach_all(found, schedule.timeout, context)
    lanes = [_lane(answer, schedule) for answer in answers]
    lanes += [board.Lane(n, "?", error=f"not {searched(who.domain)}") for n in missing]
    running = [lane.session for lane in lanes if lane.session is not None]
    for i, session in enumerate(running):
        # A fraction of the interval apart, so the daemons are not all pinged at one instant.
        session.offset = i * schedule.interval / len(running)
    out = output.choose(
        json_output=view.json_output, quiet=view.quiet, terminal=sys.stdout.isatty(), color=view.color, transient=False
    )
    redraw = _board(out, lanes, schedule, len(running))
    with interim_on_sigquit(lambda: "\n".join(board.interim_lines(lanes))):
        try:
            _run(lambda: multiplex.run(running, redraw=redraw), out)
        finally:
            for session in running:
                session.client.close()
    if view.json_output:
        print(json.dumps(board.documents(lanes, view.samples), indent=2))
    elif not out.shows_panels:
        print("\n".join(board.summary_lines(lanes)))
    return EXIT_OK if all(lane.answered for lane in lanes) else EXIT_NO_REPLY


def _lane(answer: fleet.DaemonStatus, schedule: Schedule) -> board.Lane:
    """A daemon's lane in `ping --all`: a session if it answered, else why not."""
    found = answer.found
    if answer.client is None or answer.status is None or answer.target is None:
        where = found.targets()[0].display if found.addresses else "?"
        return board.Lane(found.name, where, error=explain(answer.error) if answer.error else "announced no address")
    session = Session(answer.client, schedule.count, schedule.interval, schedule.deadline)
    return board.Lane(answer.status.name or found.name, answer.target.display, session, answer.target, answer.status)


def _board(out: Output, lanes: list[board.Lane], schedule: Schedule, daemons: int) -> Callable[[], None] | None:
    """The live board's header, printed now, and its redraw; None for an output without panels."""
    if not out.shows_panels:
        return None
    pings = f"{schedule.count} pings each" if schedule.count else "pings until stopped"
    out.header(f"PING {daemons} daemons: {pings}, interval {schedule.interval:g} s")
    return lambda: out.panel([("\n".join(render.table(board.rows(lanes))), "")])
