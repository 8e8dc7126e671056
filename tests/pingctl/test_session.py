"""The session's schedule and bookkeeping, with a fake client and a fake clock."""

from pingctl.client import PingResult
from pingctl.session import Session


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
    assert s.last_count == 103


def test_flat_out_never_sleeps():
    s, clock = session(50, 0.0)
    s.run()
    assert clock.sleeps == [] and len(s.results) == 50


def test_deadline_stops_the_session_whatever_the_count():
    s, clock = session(0, 1.0, deadline=3.5)
    s.run()
    assert len(s.results) == 4  # at 0, 1, 2 and 3 s
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
    assert [r.seq for r in s.results] == [1, 2] and not s.results[1].ok
