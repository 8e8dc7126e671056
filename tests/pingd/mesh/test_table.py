"""What the mesh keeps of each peer (pingd.mesh.table), pure: the "late = lost" rule, losses
without a reply, the recent window by time, the nearest-rank quantiles, the PEERS table chosen
and ordered, and the peers known followed."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pingd.mesh.table import LATE, NO_MESH, RECENT, Peer, PeerRecord, PeerTable
from pingd.shared.schema import MAX_PEERS, peers_problem


def _peer(name: str = "box", node_id: str | None = "n1", address: str = "127.0.0.1", port: int = 7464) -> Peer:
    return Peer(name, node_id, address, port)


def _record() -> PeerRecord:
    return PeerRecord(_peer())


# --- late = lost ---------------------------------------------------------------------------------


def test_the_first_reply_is_never_late_however_slow() -> None:
    record = _record()
    assert record.answered(1.0, 0.9)
    assert (record.probes, record.lost, record.last_error) == (1, 0, None)


def test_a_reply_up_to_late_behind_the_fastest_is_on_time_and_beyond_it_lost() -> None:
    record = _record()
    assert record.answered(1.0, 0.002)
    assert record.answered(2.0, 0.002 + LATE)  # exactly LATE behind: on time
    assert not record.answered(3.0, 0.002 + LATE + 0.001)
    assert (record.probes, record.lost) == (3, 1)
    assert record.last_error == "reply after 103 ms, over 100 ms behind the fastest: re-sent"
    assert LATE == 0.1  # docs/protocol.md: "more than 100 ms after the fastest recent reply"


def test_a_late_reply_is_in_the_histogram_but_never_the_fastest() -> None:
    record = _record()
    record.answered(1.0, 0.001)
    assert not record.answered(2.0, 0.3)
    snapshot = record.histogram.snapshot()
    assert snapshot.count == 2 and snapshot.total == pytest.approx(0.301)
    assert record.answered(3.0, 0.1009)  # measured against 1 ms, not against the late 300 ms
    assert record.recent[-2] == (2.0, None)


def test_the_fastest_is_of_the_recent_replies_only() -> None:
    """Once the fast reply has left the last RECENT probes, a path that became slower is not
    counted as losing every probe."""
    record = _record()
    record.answered(0.0, 0.001)
    for i in range(1, RECENT):
        record.failed(float(i), "no reply within 1 s")
    assert not record.answered(float(RECENT), 0.5)  # the 1 ms reply is still among the recent
    assert record.answered(float(RECENT + 1), 0.5)  # now it is not: 0.5 s is the fastest known


def test_a_probe_without_a_reply_is_lost_with_why() -> None:
    record = _record()
    record.answered(1.0, 0.001)
    record.failed(2.0, "no reply within 1 s")
    record.failed(3.0, "no connection (refused, unreachable, or its CURVE handshake failed)")
    assert (record.probes, record.lost, record.last_probe) == (3, 2, 3.0)
    assert record.last_error == "no connection (refused, unreachable, or its CURVE handshake failed)"
    assert record.histogram.snapshot().count == 1  # no round trip to put in it
    row = record.row(3.0, 10.0)
    assert (row["recent_probes"], row["recent_lost"], row["p50_seconds"]) == (3, 2, 0.001)


def test_last_error_stays_after_answers_and_says_the_last_loss() -> None:
    record = _record()
    record.failed(1.0, "no reply within 1 s")
    record.answered(2.0, 0.001)
    assert record.row(2.0, 10.0)["last_error"] == "no reply within 1 s"


# --- the recent figures: a window of time --------------------------------------------------------


def test_recent_counts_cover_the_window_by_time_not_by_number() -> None:
    record = _record()
    for when, rtt in ((0.0, 0.010), (10.0, 0.001), (19.0, None), (20.0, 0.002)):
        if rtt is None:
            record.failed(when, "no reply within 1 s")
        else:
            record.answered(when, rtt)
    row = record.row(30.0, 20.0)  # 10.0 and later: 0.0 is out, 10.0 (exactly 20 s ago) in
    assert (row["probes"], row["lost"], row["recent_probes"], row["recent_lost"]) == (4, 1, 3, 1)
    assert (row["p50_seconds"], row["p90_seconds"]) == (0.001, 0.002)  # the 10 ms reply is out
    row = record.row(100.0, 20.0)  # nothing recent: totals stay, figures are null
    assert (row["probes"], row["recent_probes"], row["recent_lost"]) == (4, 0, 0)
    assert (row["p50_seconds"], row["p90_seconds"]) == (None, None)
    assert row["last_probe_seconds_ago"] == 80.0


def test_a_row_before_any_probe_keeps_the_schema_with_nulls() -> None:
    row = _record().row(5.0, 30.0)
    assert row == {
        "name": "box",
        "node_id": "n1",
        "address": "127.0.0.1",
        "port": 7464,
        "probes": 0,
        "lost": 0,
        "recent_probes": 0,
        "recent_lost": 0,
        "p50_seconds": None,
        "p90_seconds": None,
        "last_error": None,
        "last_probe_seconds_ago": None,
    }


def test_last_probe_seconds_ago_is_never_negative() -> None:
    record = _record()
    record.answered(10.0, 0.001)
    assert record.row(9.5, 30.0)["last_probe_seconds_ago"] == 0.0  # a clock read before the probe's


# --- quantiles: nearest rank ---------------------------------------------------------------------


def _nearest_rank(ordered: list[float], percent: int) -> float:
    rank = max(1, math.ceil(Fraction(percent, 100) * len(ordered)))
    return ordered[rank - 1]


@pytest.mark.parametrize("n", range(1, RECENT + 1))
def test_p50_and_p90_are_the_nearest_rank_of_the_answered(n: int) -> None:
    """Every count the recent window can hold, against the definition in exact arithmetic."""
    record = _record()
    rtts = [0.001 + i * 1e-5 for i in range(n)]
    for i, rtt in enumerate(reversed(rtts)):  # sorted by the table, not by arrival
        record.answered(float(i), rtt)
    row = record.row(float(n), 100.0)
    assert row["p50_seconds"] == round(_nearest_rank(rtts, 50), 7)
    assert row["p90_seconds"] == round(_nearest_rank(rtts, 90), 7)


def test_quantiles_of_ten_replies() -> None:
    record = _record()
    for i in range(1, 11):
        record.answered(float(i), i / 1000)
    record.failed(11.0, "no reply within 1 s")  # a loss is no round trip
    row = record.row(11.0, 100.0)
    assert (row["p50_seconds"], row["p90_seconds"]) == (0.005, 0.009)


@given(st.lists(st.floats(0, 0.099, allow_nan=False), min_size=1, max_size=RECENT))
def test_quantiles_are_answered_round_trips_in_order(rtts: list[float]) -> None:
    record = _record()
    for i, rtt in enumerate(rtts):
        record.answered(float(i), rtt)  # all within LATE of each other: none is lost
    row = record.row(float(len(rtts)), 1000.0)
    assert row["lost"] == 0
    assert row["p50_seconds"] == round(_nearest_rank(sorted(rtts), 50), 7)
    assert row["p90_seconds"] == round(_nearest_rank(sorted(rtts), 90), 7)
    assert row["p50_seconds"] <= row["p90_seconds"]


# --- the table: know() and document() ---------------------------------------------------------------


def test_know_adds_updates_and_forgets() -> None:
    table = PeerTable()
    a, b = _peer("a", "id-a"), _peer("b", "id-b")
    table.know([a, b])
    assert set(table.records) == {"id-a", "id-b"}
    table.records["id-a"].answered(1.0, 0.001)
    moved = _peer("a-renamed", "id-a", "127.0.0.2", 7000)
    table.know([moved, b])
    record = table.records["id-a"]
    assert record.peer == moved and record.probes == 1  # the same peer, moved: its figures kept
    table.know([moved])
    assert set(table.records) == {"id-a"}  # b is gone, with its figures
    table.know([b])
    assert table.records["id-b"].probes == 0  # found again: from nothing


def test_a_peer_without_a_node_id_is_who_listens_where() -> None:
    table = PeerTable()
    bare = _peer("x", None, "127.0.0.1", 1)
    table.know([bare, _peer("x", None, "127.0.0.1", 2)])
    assert set(table.records) == {"x@127.0.0.1:1", "x@127.0.0.1:2"}
    assert bare.key == "x@127.0.0.1:1" and _peer("x", "abc").key == "abc"


def test_the_document_lists_by_name_with_the_settings() -> None:
    table = PeerTable()
    table.know([_peer("c", "3"), _peer("a", "1"), _peer("b", "2")])
    for when, key in enumerate(("2", "3", "1")):
        table.records[key].answered(float(when), 0.001)
    doc = table.document(10.0, 10.0, 30.0)
    assert [p["name"] for p in doc["peers"]] == ["a", "b", "c"]
    assert (doc["mesh"], doc["interval_seconds"], doc["window_seconds"], doc["peers_known"]) == (True, 10.0, 30.0, 3)
    assert peers_problem(doc) is None


def test_the_document_picks_the_max_peers_most_recently_probed() -> None:
    table = PeerTable()
    peers = [_peer(f"p{i:03d}", f"id{i}") for i in range(MAX_PEERS + 20)]
    table.know(reversed(peers))
    for i, peer in enumerate(peers):
        if i % 7:  # every seventh never probed: chosen last (72 probed, more than MAX_PEERS)
            table.records[peer.key].answered(100.0 + i, 0.001)
    doc = table.document(1000.0, 10.0, 30.0)
    probed = [i for i in range(len(peers)) if i % 7]
    newest = sorted(probed, reverse=True)[:MAX_PEERS]
    assert [p["name"] for p in doc["peers"]] == sorted(f"p{i:03d}" for i in newest)
    assert doc["peers_known"] == MAX_PEERS + 20 and len(doc["peers"]) == MAX_PEERS
    assert peers_problem(doc) is None


def test_with_few_peers_even_the_never_probed_are_listed() -> None:
    table = PeerTable()
    table.know([_peer("b", "2"), _peer("a", "1")])
    table.records["2"].answered(5.0, 0.001)
    assert [p["name"] for p in table.document(6.0, 1.0, 3.0)["peers"]] == ["a", "b"]


def test_the_table_of_a_daemon_without_mesh_keeps_the_schema() -> None:
    assert peers_problem(NO_MESH) is None and NO_MESH["mesh"] is False and NO_MESH["peers"] == []
