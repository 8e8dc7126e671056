"""Which idle peers are evicted: bounds, order, and how peers are dated when noting begins."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pingd.serve import peers
from pingd.serve.peers import NEW_IDLE, QUIET_IDLE, PeerTable


def test_a_peer_that_never_spoke_is_idle_after_the_new_bound_plus_its_round_trips():
    table = PeerTable()
    table.accepted(5, ("127.0.0.2", 4000), now=10.0)
    table.accepted(6, ("127.0.0.3", 4000), now=10.0, rtt=0.1)  # far away: 4 round trips more
    assert table.choose(10.0 + NEW_IDLE - 0.01, 10) == []
    assert [fd for fd, _ in table.choose(10.0 + NEW_IDLE, 10)] == [5]
    assert [fd for fd, _ in table.choose(10.0 + NEW_IDLE + 0.4, 10)] == [5, 6]


def test_the_round_trip_allowance_is_capped():
    table = PeerTable()
    table.accepted(5, "far", now=0.0, rtt=30.0)  # a peer that delays its ACKs gains little
    assert table.get(5).allowance == peers.MAX_ALLOWANCE
    assert table.choose(NEW_IDLE + peers.MAX_ALLOWANCE, 1) != []


def test_a_peer_that_keeps_sending_requests_is_never_idle():
    table = PeerTable()
    table.accepted(5, "client", now=0.0)
    for now in range(1, 30):
        table.heard(5, float(now))
        assert table.choose(now + QUIET_IDLE - 0.01, 10) == []
    assert table.choose(29 + QUIET_IDLE, 10) == [(5, table.get(5))]


def test_those_that_never_spoke_go_first_then_the_longest_silent():
    table = PeerTable()
    table.accepted(1, "quiet client", now=0.0)
    table.heard(1, 1.0)
    table.accepted(2, "older idle", now=2.0)
    table.accepted(3, "newer idle", now=3.0)
    table.accepted(4, "not yet idle", now=9.9)
    now = 10.0
    assert [fd for fd, _ in table.choose(now, 10)] == [2, 3, 1]
    assert [fd for fd, _ in table.choose(now, 2)] == [2, 3]
    assert table.choose(now, 0) == [] and table.choose(now, -5) == []


def test_a_closed_peer_is_forgotten_and_a_reused_descriptor_is_a_new_peer():
    table = PeerTable()
    table.accepted(7, "first", now=0.0)
    table.heard(7, 1.0)
    table.closed(7)
    table.closed(7)  # a second DISCONNECTED, or one after an eviction: harmless
    assert len(table) == 0
    table.accepted(7, "second", now=2.0)
    assert table.get(7).address == "second" and not table.get(7).spoke
    table.heard(8, 3.0)  # a descriptor the table never saw: nothing to note
    assert len(table) == 1


def test_noting_begins_with_each_peers_silence_as_the_kernel_knows_it():
    table = PeerTable()
    table.accepted(1, "idle since accepted", now=99.0)
    table.accepted(2, "sent something lately", now=99.0)
    table.accepted(3, "unknown", now=99.0)
    table.accepted(4, "long connected, active", now=10.0)
    table.accepted(5, "long connected, silent", now=10.0)
    silences = {1: 1.0, 2: 0.1, 3: None, 4: 2.0, 5: 40.0}
    table.reckon_from(100.0, lambda fd, peer: silences[fd])
    # Idle peers go at once; an unknown one gets a full bound from now; a peer connected for
    # long is judged by the quiet bound, as a client that may have been pinging.
    assert [fd for fd, _ in table.choose(100.0, 10)] == [1, 5]
    assert table.get(4).spoke and not table.get(1).spoke
    assert [fd for fd, _ in table.choose(100.0 + NEW_IDLE, 10)] == [1, 2, 3, 5]
    assert 4 in [fd for fd, _ in table.choose(98.0 + QUIET_IDLE, 10)]


events = st.lists(
    st.tuples(st.sampled_from(["accepted", "heard", "closed"]), st.integers(0, 15), st.floats(0, 0.5)),
    max_size=60,
)


@given(events, st.floats(0, 3), st.integers(0, 20))
def test_only_idle_peers_are_chosen_and_none_is_passed_over_for_a_fresher_one(events, after, count):
    """Against the rule as written (never-spoke first, then longest silent), on any history
    of accepts, requests and closes in time order."""
    table = PeerTable()
    now = 0.0
    for kind, fd, step in events:
        now += step
        if kind == "accepted":
            table.accepted(fd, fd, now, rtt=step / 4)
        elif kind == "heard":
            table.heard(fd, now)
        else:
            table.closed(fd)
    now += after
    idle = sorted(
        ((fd, peer) for fd, peer in table.items() if peer.idle_at <= now), key=lambda i: (i[1].spoke, i[1].since)
    )
    assert table.choose(now, count) == idle[:count]  # ties: the first accepted or heard first
