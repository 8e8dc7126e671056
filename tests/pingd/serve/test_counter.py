"""The counter actor, exhaustively and without any process: its API is the one the daemon calls."""

from hypothesis import given
from hypothesis import strategies as st

from pingd.serve.counter import CounterActor, Identity
from pingd.shared import protocol
from pingd.shared.protocol import Status


def actor(count: int = 0, started_at: float = 100.0) -> CounterActor:
    return CounterActor(count=count, identity=Identity("abc123", "box", "9.9", "periodic"), started_at=started_at)


def test_ping_counts_one() -> None:
    a = actor(41)
    assert a.ping() == 42
    assert a.count == 42 and a.served == 1


@given(st.integers(0, 500), st.integers(0, 10**12))
def test_each_ping_gets_the_next_count_exactly_once(pings: int, start: int) -> None:
    a = actor(start)
    assert [a.ping() for _ in range(pings)] == list(range(start + 1, start + 1 + pings))


def test_status_reports_the_committed_count_only() -> None:
    a = actor(10, started_at=100.0)
    a.ping()
    status = a.status(102.5)
    assert isinstance(status, Status)
    assert status.count == 10  # the ping above is not persisted yet
    assert status.uptime_seconds == 2.5
    assert set(status.to_json()) == set(protocol.STATUS_KEYS)
    assert protocol.status_problem(status.to_json()) is None
    a.commit()
    assert a.status(103.0).count == 11
    assert a.status(103.0).pings_served == 1


def test_rollback_forgets_unpersisted_pings() -> None:
    a = actor(5)
    a.ping()
    a.commit()
    a.ping()
    a.ping()
    assert a.dirty
    a.rollback()
    assert a.count == 6 and a.served == 1 and not a.dirty
    assert a.ping() == 7


def test_count_stops_at_the_top_of_the_wire_range() -> None:
    a = actor(protocol.MAX_COUNT)
    assert a.ping() is None
    assert a.count == protocol.MAX_COUNT and a.served == 0


def test_a_storage_error_and_the_key_show_in_status() -> None:
    a = actor()
    assert a.status(100.0).storage == "ok" and a.status(100.0).curve_public_key is None
    a.storage_error = "cannot write the state file: disk full"
    a.identity.security, a.identity.public_key = "curve", "K" * 40
    status = a.status(100.0)
    assert (status.storage, status.security, status.curve_public_key) == (a.storage_error, "curve", "K" * 40)


def test_pings_served_counts_every_acknowledged_ping_since_start() -> None:
    a = actor(1000)
    for _ in range(3):
        a.ping()
    a.commit()
    assert a.status(100.0).pings_served == 3
    assert a.status(100.0).count == 1003


def test_uptime_is_in_seconds_to_the_millisecond_and_never_negative() -> None:
    a = actor(started_at=100.0)
    assert a.status(100.25).uptime_seconds == 0.25
    assert a.status(100.123456).uptime_seconds == 0.123
    assert a.status(99.0).uptime_seconds == 0.0  # a "now" before the start: 0, as the schema requires
