from hypothesis import given
from hypothesis import strategies as st

from pingd import protocol
from pingd.counter import CounterActor, Identity
from pingd.protocol import ErrorCode, ErrorReply, Ping, Pong, StatusReply, StatusRequest


def actor(count=0, started_at=100.0):
    return CounterActor(count=count, identity=Identity("abc123", "box", "9.9", "periodic"), started_at=started_at)


def test_ping_increments_and_echoes_the_sequence_number():
    a = actor(41)
    assert a.handle(Ping(7), 101.0) == Pong(7, 42)
    assert a.count == 42 and a.served == 1


@given(st.lists(st.integers(0, protocol.MAX_SEQ), max_size=200), st.integers(0, 10**12))
def test_each_ping_gets_the_next_count_exactly_once(seqs, start):
    a = actor(start)
    replies = [a.handle(Ping(s), 0.0) for s in seqs]
    assert [r.count for r in replies] == list(range(start + 1, start + 1 + len(seqs)))
    assert [r.seq for r in replies] == seqs


def test_status_reports_the_committed_count_only():
    a = actor(10, started_at=100.0)
    a.handle(Ping(1), 100.0)
    reply = a.handle(StatusRequest(2), 102.5)
    assert isinstance(reply, StatusReply)
    assert reply.seq == 2
    assert reply.status["count"] == 10  # the ping above is not persisted yet
    assert reply.status["uptime_seconds"] == 2.5
    assert set(protocol.STATUS_KEYS) <= set(reply.status)
    a.commit()
    assert a.handle(StatusRequest(3), 103.0).status["count"] == 11
    assert a.handle(StatusRequest(3), 103.0).status["pings_served"] == 1


def test_rollback_forgets_unpersisted_pings():
    a = actor(5)
    a.handle(Ping(1), 0.0)
    a.commit()
    a.handle(Ping(2), 0.0)
    a.handle(Ping(3), 0.0)
    assert a.dirty
    a.rollback()
    assert a.count == 6 and a.served == 1 and not a.dirty
    assert a.handle(Ping(4), 0.0) == Pong(4, 7)


def test_count_stops_at_the_top_of_the_wire_range():
    a = actor(protocol.MAX_COUNT)
    reply = a.handle(Ping(1), 0.0)
    assert isinstance(reply, ErrorReply) and reply.code == ErrorCode.COUNT_EXHAUSTED
    assert a.count == protocol.MAX_COUNT


def test_storage_error_shows_in_status():
    a = actor()
    a.storage_error = "disk full"
    assert a.status(100.0)["storage"] == "disk full"
