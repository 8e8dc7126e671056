"""Many sessions from one poll loop (``ping --all``), against scripted ROUTERs on loopback: the
schedule each session keeps and how precisely its pings leave, what is lost and what is
counted, and Ctrl-C."""

from __future__ import annotations

import contextlib
import heapq
import math
import select
import signal
import threading
import time

import pytest
import zmq

from pingctl.client import PingClient, Target
from pingctl.multiplex import _Loop, _Wakes, _wakes, run
from pingctl.session import Session
from pingd.shared import protocol
from tests.support import wire
from tests.support.fakes import ScriptedRouter, fake_router
from tests.support.processes import wait_for

PONG = lambda seq: [wire.pong(seq, seq)]  # noqa: E731 - a script line: each ping answered, its count its seq


@pytest.fixture
def routers():
    """Scripted ROUTERs on loopback (``tests.support.fakes.ScriptedRouter``), closed at the end."""
    with contextlib.ExitStack() as stack:
        yield lambda *script: stack.enter_context(contextlib.closing(ScriptedRouter(list(script))))


def _session(router: ScriptedRouter | int, count: int, interval: float, timeout: float = 1.0, **kw) -> Session:
    port = router if isinstance(router, int) else router.port
    client = PingClient(Target("127.0.0.1", port), timeout, context=zmq.Context.instance())
    return Session(client, count, interval, **kw)


def test_every_session_keeps_its_own_schedule_and_its_client_is_closed_at_its_end(routers):
    sessions = [_session(routers(*[PONG] * 4), 4, 0.05, offset=i * 0.01) for i in range(3)]
    redraws: list[int] = []
    started = time.monotonic()
    assert run(sessions, redraw=lambda: redraws.append(sum(len(s.observer.results()) for s in sessions)), every=0.02)
    took = time.monotonic() - started
    for s in sessions:
        results = s.observer.results()
        assert [(r.seq, r.count) for r in results] == [(1, 1), (2, 2), (3, 3), (4, 4)]
        assert all(r.ok and 0 < r.rtt_ms < 1000 for r in results)
        assert s.client._socket is None  # closed
    assert 0.15 <= took < 5  # three intervals after the first ping, whatever the load
    assert 0.15 <= sessions[2].elapsed < 5 and redraws[-1] == 12 and len(redraws) >= 3


def test_a_silent_daemon_loses_its_pings_alone_and_each_loss_waits_the_timeout(routers):
    talking = _session(routers(*[PONG] * 3), 3, 0.0)
    silent = _session(routers(None, None, PONG), 3, 0.0, timeout=0.2)
    started = time.monotonic()
    assert run([talking, silent])
    assert [r.ok for r in talking.observer.results()] == [True, True, True]
    assert [r.ok for r in silent.observer.results()] == [False, False, True]  # lost, not re-sent
    assert [r.seq for r in silent.observer.results()] == [1, 2, 3]
    assert time.monotonic() - started >= 0.4  # two timeouts of 0.2 s, one after the other


def test_a_last_ping_that_times_out_ends_the_run(routers):
    s = _session(routers(PONG, None), 2, 0.0, timeout=0.2)
    outcome: list[bool] = []
    runner = threading.Thread(target=lambda: outcome.append(run([s])), daemon=True)  # off the main thread
    runner.start()
    runner.join(10)
    assert outcome == [True] and [r.ok for r in s.observer.results()] == [True, False]


def test_a_reply_to_an_earlier_ping_is_never_taken_for_the_current_one(routers):
    s = _session(routers(lambda seq: [wire.pong(seq - 1, 7), wire.pong(seq, 8)]), 1, 0.0)
    assert run([s])
    assert [(r.seq, r.count) for r in s.observer.results()] == [(1, 8)]


def test_something_that_is_not_pingd_ends_that_session_with_its_ping_lost(routers):
    other = _session(routers(lambda seq: [b"HTTP/1.1 400 Bad Request"]), 5, 0.0)
    fine = _session(routers(*[PONG] * 5), 5, 0.0)
    assert run([other, fine])
    assert [r.ok for r in other.observer.results()] == [False]
    assert len(fine.observer.results()) == 5


def test_the_deadline_ends_a_session_whatever_its_count():
    with fake_router(_pong) as port:
        s = _session(port, 0, 0.05, deadline=0.2)
        started = time.monotonic()
        assert run([s])
    assert 0.2 <= time.monotonic() - started < 5
    assert 2 <= len(s.observer.results()) <= 5  # 0, 0.05, 0.1, 0.15 s: never one at or after 0.2


def test_a_stopped_session_sends_no_more_pings():
    with fake_router(_pong) as port:
        s = _session(port, 10, 0.05)
        s.stop.set()
        assert run([s]) and s.observer.results() == []


def _pong(frame: bytes) -> bytes:
    seq = protocol.HEADER.unpack_from(frame)[3]
    return wire.pong(seq, seq)


def test_ctrl_c_ends_every_session_counting_each_ping_in_flight_as_lost(routers):
    sessions = [_session(routers(*[PONG] * n, None), 10, 0.0, timeout=30.0) for n in (1, 2, 3)]
    before = signal.getsignal(signal.SIGINT)
    sender = threading.Thread(target=_interrupt_once_all_wait, args=(sessions,))
    sender.start()
    try:
        assert run(sessions) is False
    finally:
        sender.join()
    assert [(s.summary().sent, s.summary().received) for s in sessions] == [(2, 1), (3, 2), (4, 3)]
    assert all(s.client._socket is None and not s.client.in_flight for s in sessions)
    assert signal.getsignal(signal.SIGINT) is before


def _interrupt_once_all_wait(sessions: list[Session]) -> None:
    """Ctrl-C (SIGINT to the main thread, as the kernel delivers it) once every session waits
    for a reply that will not come (each has had its answered pings)."""
    answered = (1, 2, 3)
    waiting = lambda: all(s.client.in_flight and len(s.observer.results()) == n for s, n in zip(sessions, answered))  # noqa: B905, E731
    wait_for(waiting, 10, "every session to wait on a reply")
    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)  # type: ignore[arg-type]


def _loop_with_alarms() -> tuple[_Loop, list[float]]:
    """A loop with nothing scheduled whose alarm only notes what it was asked for."""
    asked: list[float] = []
    return _Loop([], _Wakes(None, lambda: False, asked.append)), asked


def test_the_alarm_wakes_the_loop_when_the_next_ping_is_due_not_at_the_polls_next_whole_millisecond():
    loop, asked = _loop_with_alarms()
    due = time.monotonic() + 0.0503
    heapq.heappush(loop.due, (due, 0, None))
    assert loop._wait_ms(math.inf) in (50, 51)  # the poll's own timeout rounds up: a backstop
    assert len(asked) == 1 and 0.03 < asked[0] <= 0.0503  # the alarm: the due time itself
    loop._wait_ms(math.inf)
    assert len(asked) == 1  # the same ping: the alarm already set stands (no syscall per turn)
    heapq.heappush(loop.due, (due - 0.0004, 1, None))
    loop._wait_ms(math.inf)
    assert len(asked) == 2 and asked[1] < asked[0]  # an earlier ping: the alarm moves


def test_no_alarm_when_a_timeout_or_a_redraw_comes_first_or_the_ping_is_due_now():
    loop, asked = _loop_with_alarms()
    now = time.monotonic()
    heapq.heappush(loop.due, (now + 0.5, 0, None))
    assert loop._wait_ms(now + 0.2) == 200 and asked == []  # the redraw comes first
    loop.expiring.append((time.perf_counter_ns() + 50_000_000, None, 1))
    assert 0 < loop._wait_ms(math.inf) <= 50 and asked == []  # a ping's timeout comes first
    loop.expiring.clear()
    loop.due[0] = (now - 1, 0, None)
    assert loop._wait_ms(math.inf) == 0 and asked == []  # overdue: sent at once


def test_the_alarm_wakes_the_poll_through_the_wake_up_socket_and_is_put_away_after():
    assert signal.getsignal(signal.SIGALRM) == signal.SIG_DFL
    with _wakes() as wakes:
        assert wakes.socket is not None and signal.getsignal(signal.SIGALRM) != signal.SIG_DFL
        wakes.alarm(0.0005)
        readable, _, _ = select.select([wakes.socket], [], [], 10)
        assert readable and wakes.socket.recv(16) == bytes([signal.SIGALRM])
        wakes.alarm(30)  # still set when the block ends
    assert signal.getsignal(signal.SIGALRM) == signal.SIG_DFL
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_an_alarm_someone_else_handles_is_left_alone():
    def theirs(signum, frame):
        raise AssertionError("not ours to ring")

    previous = signal.signal(signal.SIGALRM, theirs)
    try:
        with _wakes() as wakes:
            assert signal.getsignal(signal.SIGALRM) is theirs
            wakes.alarm(0.0001)  # the poll's milliseconds are the pace instead: no timer set
            assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
        assert signal.getsignal(signal.SIGALRM) is theirs
    finally:
        signal.signal(signal.SIGALRM, previous)
