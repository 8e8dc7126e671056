"""The session's schedule, and what it hands its observer, with a fake client and a fake clock."""

import threading

import pytest

from pingctl.errors import Interrupted
from pingctl.model import PingResult
from pingctl.observer import Observer
from pingctl.session import Session, run
from tests.support.processes import wait_for


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


class FakeClient:
    def __init__(self, clock, rtt=0.010, lost=()):
        self.clock, self.rtt, self.lost, self.sent = clock, rtt, set(lost), 0

    def ping(self):
        self.sent += 1
        if self.sent in self.lost:
            self.clock.now += 1.0  # the timeout
            return PingResult(self.sent)
        self.clock.now += self.rtt
        return PingResult(self.sent, rtt_ms=self.rtt * 1000, count=100 + self.sent)


def session(count, interval, **kw):
    clock = FakeClock()
    client = FakeClient(clock, **{k: kw.pop(k) for k in ("rtt", "lost") if k in kw})
    return Session(client, count, interval, clock=clock, sleep=clock.sleep, **kw), clock


def test_pings_go_out_on_a_fixed_schedule_and_the_wait_is_not_rtt():
    s, clock = session(4, 2.0)
    s.run()
    assert clock.sleeps == [1.99, 1.99, 1.99]
    summary = s.summary()
    assert summary.sent == summary.received == 4
    assert summary.rtt.max == 10.0  # ms, not the 2 s pacing
    assert round(summary.total_seconds, 6) == 6.01


def test_a_late_ping_is_followed_at_once_when_behind_schedule():
    s, clock = session(3, 0.5, lost={1})
    s.run()
    assert clock.sleeps == []  # after the 1 s timeout the 2nd and 3rd pings are already due
    summary = s.summary()
    assert (summary.sent, summary.received, summary.lost) == (3, 2, 1)
    assert s.observer.last_count == 103


def test_flat_out_never_sleeps():
    s, clock = session(50, 0.0)
    s.run()
    assert clock.sleeps == [] and len(s.observer.results()) == 50


def test_deadline_stops_the_session_whatever_the_count():
    s, clock = session(0, 1.0, deadline=3.5)
    s.run()
    assert len(s.observer.results()) == 4  # at 0, 1, 2 and 3 s
    assert clock.now <= 3.5 + 1e-9


def test_interrupted_session_keeps_what_ran():
    s, clock = session(10, 0.0)
    original = s.client.ping

    def ping():
        if s.client.sent == 3:
            raise KeyboardInterrupt
        return original()

    s.client.ping = ping
    try:
        s.run()
    except KeyboardInterrupt:
        pass
    assert s.summary().sent == 3 and s.elapsed > 0


class InterruptedClient(FakeClient):
    """Ctrl-C lands while the second ping is in flight."""

    in_flight = False
    last_seq = 0

    def ping(self):
        if self.sent == 1:
            self.in_flight, self.last_seq = True, 2
            raise KeyboardInterrupt
        return super().ping()


def test_ctrl_c_with_a_ping_in_flight_counts_it_as_transmitted_and_lost():
    clock = FakeClock()
    s = Session(InterruptedClient(clock), 5, 0.0, clock=clock, sleep=clock.sleep)
    try:
        s.run()
    except KeyboardInterrupt:
        pass
    summary = s.summary()
    assert (summary.sent, summary.received) == (2, 1)
    assert [r.seq for r in s.observer.results()] == [1, 2] and not s.observer.results()[1].ok


def test_each_result_goes_to_the_observer_once_and_a_ping_cut_off_is_counted_not_shown():
    clock = FakeClock()
    told = []
    observer = Observer(lambda index, result: told.append((index, result.seq)))
    s = Session(InterruptedClient(clock), 5, 0.0, clock=clock, sleep=clock.sleep, observer=observer)
    with pytest.raises(KeyboardInterrupt):
        s.run()
    assert told == [(1, 1)]  # the live view shows the pong, not the ping cut off
    assert [r.seq for r in observer.results()] == [1, 2]
    assert (observer.figures().running.sent, observer.figures().running.received) == (2, 1)


def test_paced_results_carry_their_place_in_the_schedule():
    told = []
    s, clock = session(3, 1.0, lost={2}, observer=Observer(lambda index, result: told.append(index)))
    s.run()
    assert told == [1, 2, 3] and s.observer.last_count == 103


def test_an_offset_delays_the_first_ping_and_shifts_the_whole_schedule():
    s, clock = session(3, 1.0, offset=0.25)
    s.run()
    assert clock.sleeps == [0.25, 0.99, 0.99]
    assert round(s.elapsed, 6) == 2.26


def test_a_stopped_session_ends_at_its_next_wait_without_another_ping():
    s, clock = session(0, 1.0)

    def sleep(seconds):
        clock.sleep(seconds)
        if len(s.observer.results()) == 2:
            s.stop.set()

    s.sleep = sleep
    s.run()
    assert len(s.observer.results()) == 2


# --- run: the one way sessions are run, one or many -----------------------------------------


class BlockingClient:
    """A real-time client whose pings wait for an answer until ``interrupt`` cuts them off,
    as terminating the ZeroMQ context cuts off a receive."""

    def __init__(self, answer_first: int):
        self.answer_first, self.sent, self.in_flight, self.closed = answer_first, 0, False, False
        self.cut = threading.Event()

    @property
    def last_seq(self):
        return self.sent

    def ping(self):
        self.sent += 1
        if self.sent <= self.answer_first:
            return PingResult(self.sent, rtt_ms=0.1, count=self.sent)
        self.in_flight = True
        assert self.cut.wait(10), "never interrupted"
        raise Interrupted

    def close(self):
        self.closed = True


def test_run_runs_every_session_to_its_end_and_closes_each_client_in_its_own_thread():
    clients = [BlockingClient(answer_first=5) for _ in range(3)]
    sessions = [Session(c, 5, 0.0) for c in clients]
    redraws = []
    assert run(sessions, redraw=lambda: redraws.append(sum(len(s.observer.results()) for s in sessions)))
    assert [len(s.observer.results()) for s in sessions] == [5, 5, 5] and all(c.closed for c in clients)
    assert redraws[-1] == 15  # the last redraw shows the sessions' end


def test_ctrl_c_stops_every_session_and_counts_each_ping_in_flight_as_lost():
    clients = [BlockingClient(answer_first=n) for n in (1, 2, 3)]
    sessions = [Session(c, 10, 0.0) for c in clients]

    def interrupt():
        for c in clients:
            c.cut.set()

    stuck = threading.Thread(target=_interrupt_main_once_all_wait, args=(clients,))
    stuck.start()
    try:
        assert run(sessions, interrupt=interrupt) is False
    finally:
        stuck.join()
    assert [(s.summary().sent, s.summary().received) for s in sessions] == [(2, 1), (3, 2), (4, 3)]
    assert all(c.closed for c in clients)


def _interrupt_main_once_all_wait(clients):
    """Ctrl-C (SIGINT to the main thread, as the kernel delivers it), once every session has
    a ping in flight."""
    import signal

    wait_for(lambda: all(c.in_flight for c in clients), 10, "every session to wait on a reply")
    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
