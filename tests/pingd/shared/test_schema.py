"""The JSON bodies' one checker (pingd.shared.schema): every PEERS_REPLY key's type and null rule,
the rules between keys, the largest table pingd can write fitting in a reply, and any valid
table surviving the wire."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pingd.mesh.prober import TIMEOUT
from pingd.mesh.table import Peer, PeerRecord
from pingd.shared import protocol, schema
from pingd.shared.protocol import PeersReply
from pingd.shared.schema import MAX_COUNT, MAX_PEERS, PEER_SCHEMA, PEERS_SCHEMA, peers_problem
from pingd.shared.service import instance_name_problem


def _peer(**change: Any) -> dict[str, Any]:
    return {
        "name": "box",
        "node_id": "0123456789abcdef",
        "address": "127.0.0.1",
        "port": 7464,
        "probes": 10,
        "lost": 1,
        "recent_probes": 3,
        "recent_lost": 1,
        "p50_seconds": 0.0004,
        "p90_seconds": 0.0009,
        "last_error": "no reply within 1 s",
        "last_probe_seconds_ago": 2.5,
    } | change


def _table(*peers: Any, **change: Any) -> dict[str, Any]:
    return {
        "mesh": True,
        "interval_seconds": 10.0,
        "window_seconds": 30.0,
        "peers_known": len(peers),
        "peers": list(peers),
    } | change


def test_a_good_table_and_the_table_of_a_daemon_without_mesh_keep_the_schema() -> None:
    assert peers_problem(_table(_peer(), _peer(name="other"))) is None
    no_mesh: dict[str, Any] = {
        "mesh": False,
        "interval_seconds": None,
        "window_seconds": None,
        "peers_known": 0,
        "peers": [],
    }
    assert peers_problem(no_mesh) is None
    assert peers_problem(_table(_peer(), later_key=[1, {"x": None}])) is None  # unknown keys are ignored


# What each JSON type refuses: a bool is not a number, a number is not a bool, and so on.
_NOT_INT = [True, False, 1.0, 1.5, -1, MAX_COUNT + 1, "1", [1], {}]
_NOT_FLOAT = [True, False, -0.5, -1, math.inf, math.nan, "1.0", [1.0]]
_NOT_STR = [5, 1.5, True, [], {}, "x" * (schema.MAX_TEXT + 1)]
_NOT_BOOL = [0, 1, 1.0, "true", "false", []]
_NOT_LIST = [{}, "[]", 0, {"a": 1}, (1, 2)]
_WRONG = {int: _NOT_INT, float: _NOT_FLOAT, str: _NOT_STR, bool: _NOT_BOOL, list: _NOT_LIST}
_WORDING = {
    int: "not a whole number 0..2**64-1",
    float: "not a finite number >= 0",
    str: f"not a string of at most {schema.MAX_TEXT} characters",
    bool: "not true or false",
    list: "not a list",
}


def _cases(table_schema: dict[str, tuple[type, bool]]) -> list[tuple[str, Any, str]]:
    return [(key, bad, _WORDING[kind]) for key, (kind, _) in table_schema.items() for bad in _WRONG[kind]]


@pytest.mark.parametrize("key, bad, wording", _cases(PEERS_SCHEMA))
def test_every_table_key_refuses_a_value_of_another_type(key: str, bad: Any, wording: str) -> None:
    assert peers_problem(_table(**{key: bad})) == f"{key} is {wording}"


@pytest.mark.parametrize("key, bad, wording", _cases(PEER_SCHEMA))
def test_every_peer_key_refuses_a_value_of_another_type(key: str, bad: Any, wording: str) -> None:
    assert peers_problem(_table(_peer(), _peer(**{key: bad}))) == f"peers[1]: {key} is {wording}"


@pytest.mark.parametrize("key", PEERS_SCHEMA)
def test_every_table_key_is_required_and_null_only_where_the_schema_says(key: str) -> None:
    table = _table(_peer())
    del table[key]
    assert peers_problem(table) == f"{key} is missing"
    nulled = peers_problem(_table(**{key: None}))
    assert nulled == (None if PEERS_SCHEMA[key][1] else f"{key} is null")


@pytest.mark.parametrize("key", PEER_SCHEMA)
def test_every_peer_key_is_required_and_null_only_where_the_schema_says(key: str) -> None:
    peer = _peer()
    del peer[key]
    assert peers_problem(_table(peer)) == f"peers[0]: {key} is missing"
    nulled = peers_problem(_table(_peer(**{key: None})))
    assert nulled == (None if PEER_SCHEMA[key][1] else f"peers[0]: {key} is null")


def test_the_null_rules_are_the_documented_ones() -> None:
    """docs/protocol.md, PEERS_REPLY: what may be null, and nothing else."""
    assert {k for k, (_, nullable) in PEERS_SCHEMA.items() if nullable} == {"interval_seconds", "window_seconds"}
    assert {k for k, (_, nullable) in PEER_SCHEMA.items() if nullable} == {
        "node_id", "p50_seconds", "p90_seconds", "last_error", "last_probe_seconds_ago"
    }  # fmt: skip


@pytest.mark.parametrize(
    "table, problem",
    [
        (_table(_peer(probes=3, lost=4)), "peers[0]: lost is more than probes"),
        (_table(_peer(recent_probes=2, recent_lost=3)), "peers[0]: recent_lost is more than recent_probes"),
        (_table(_peer(port=65536)), "peers[0]: port is above 65535"),
        (_table(_peer(port=2**64 - 1)), "peers[0]: port is above 65535"),
        (_table(*[_peer()] * (MAX_PEERS + 1)), f"peers lists {MAX_PEERS + 1}, more than {MAX_PEERS}"),
        (_table(_peer(), mesh=False), "peers is not empty without mesh"),
        (_table("box"), "peers[0] is not an object"),
        (_table(_peer(), None), "peers[1] is not an object"),
        ([_table()], "not an object"),
        (None, "not an object"),
    ],
)
def test_the_rules_between_keys_and_the_limits(table: Any, problem: str) -> None:
    assert peers_problem(table) == problem


def test_the_limits_themselves_are_allowed() -> None:
    edge = _peer(port=65535, probes=MAX_COUNT, lost=MAX_COUNT, recent_probes=0, recent_lost=0, p50_seconds=0)
    assert peers_problem(_table(*[edge] * MAX_PEERS, peers_known=MAX_COUNT)) is None
    assert peers_problem(_table(_peer(port=0, name="x" * schema.MAX_TEXT))) is None


def test_status_carries_the_mesh_keys_as_optional_ones() -> None:
    status = {key: (0 if kind in (int, float) else "x") for key, (kind, _) in schema.STATUS_SCHEMA.items()}
    assert schema.status_problem(status) is None  # an older daemon: neither key
    assert schema.status_problem(status | {"probes_served": 3, "mesh": "probing 2 of 2 peers every 10 s"}) is None
    assert schema.status_problem(status | {"probes_served": True}) == "probes_served is not a whole number 0..2**64-1"
    assert schema.status_problem(status | {"probes_served": None}) == "probes_served is null"
    assert schema.status_problem(status | {"mesh": 1}) == "mesh is not a string of at most 1024 characters"


# --- the largest table pingd writes fits in the 64 KiB a client accepts ---------------------------

#: Every instance name's worst JSON escaping: pingd's JSON is ASCII, so a character outside it is
#: \\uXXXX (6 bytes for 2 bytes of UTF-8) or a surrogate pair (12 for 4): 3 bytes a byte, and a
#: quote or backslash 2 for 1, within the 63 bytes a DNS label allows.
WORST_NAMES = ["é" * 31 + '"', "😀" * 15 + "é" + "\\", "€" * 21, '"' * 63]
#: A link-local IPv6 address with the longest scope an interface name gives (IFNAMSIZ - 1).
WORST_ADDRESS = "fe80:ffff:ffff:ffff:ffff:ffff:ffff:ffff%" + "i" * 15
#: Bigger than any float a peer table holds.
HUGE_FLOAT = 1.7976931348623157e308


def _longest_error() -> str:
    """The longest last_error pingd writes: the prober's own texts, and the table's re-sent one
    for a reply far later than any timeout lets through."""
    record = PeerRecord(Peer("x", None, "127.0.0.1", 1))
    record.answered(0.0, 0.0)
    record.answered(1.0, 999_999.999)  # a reply after 11 days: more digits than any can have
    assert record.last_error is not None
    texts = [
        record.last_error,
        "no connection (refused, unreachable, or its CURVE handshake failed)",
        "its reply is no pingd's",
        f"no reply within {TIMEOUT:g} s",
        f"no reply within {0.123456789:g} s",
    ]
    return max(texts, key=len)


def _worst_peer(name: str) -> dict[str, Any]:
    big = MAX_COUNT
    return _peer(
        name=name,
        node_id="Z" * 64,
        address=WORST_ADDRESS,
        port=65535,
        probes=big,
        lost=big,
        recent_probes=big,
        recent_lost=big,
        p50_seconds=HUGE_FLOAT,
        p90_seconds=HUGE_FLOAT,
        last_error=_longest_error(),
        last_probe_seconds_ago=HUGE_FLOAT,
    )


@pytest.mark.parametrize("name", WORST_NAMES, ids=["2-byte", "4-byte", "3-byte", "quotes"])
def test_a_table_of_max_peers_at_their_longest_fits_in_a_reply(name: str) -> None:
    assert instance_name_problem(name) is None  # a name pingd would take from a peer
    table = _table(
        *[_worst_peer(name)] * MAX_PEERS,
        interval_seconds=HUGE_FLOAT,
        window_seconds=HUGE_FLOAT,
        peers_known=MAX_COUNT,
    )
    assert peers_problem(table) is None  # a table the schema allows
    frame = protocol.encode_peers_reply(protocol.MAX_SEQ, table)
    assert len(frame) <= protocol.MAX_REPLY_SIZE, f"{len(frame)} bytes"
    assert protocol.decode_reply(frame) == PeersReply(protocol.MAX_SEQ, table)


def test_the_worst_case_is_worse_than_a_plain_table() -> None:
    """The size check can fail: the worst names cost three times their bytes on the wire."""
    plain = len(protocol.encode_peers_reply(1, _table(*[_worst_peer("a" * 63)] * MAX_PEERS)))
    worst = len(protocol.encode_peers_reply(1, _table(*[_worst_peer(WORST_NAMES[0])] * MAX_PEERS)))
    assert worst - plain == MAX_PEERS * (188 - 63)


# --- any valid table survives the wire ----------------------------------------------------------

_counts = st.integers(0, MAX_COUNT)
_seconds = st.floats(0, 1e12, allow_nan=False) | st.integers(0, 10**12)


@st.composite
def _peers(draw: st.DrawFn) -> dict[str, Any]:
    probes, recent = draw(_counts), draw(_counts)
    return {
        "name": draw(st.text(min_size=1, max_size=15)),  # 15 characters: at most 60 bytes of UTF-8
        "node_id": draw(st.none() | st.text(alphabet="0123456789abcdefXYZ", min_size=1, max_size=64)),
        "address": draw(st.sampled_from(["127.0.0.1", "::1", WORST_ADDRESS, "192.0.2.255"])),
        "port": draw(st.integers(0, 65535)),
        "probes": probes,
        "lost": draw(st.integers(0, probes)),
        "recent_probes": recent,
        "recent_lost": draw(st.integers(0, recent)),
        "p50_seconds": draw(st.none() | _seconds),
        "p90_seconds": draw(st.none() | _seconds),
        "last_error": draw(st.none() | st.text(st.characters(max_codepoint=0x7F), max_size=80)),
        "last_probe_seconds_ago": draw(st.none() | _seconds),
    }


@st.composite
def _tables(draw: st.DrawFn) -> dict[str, Any]:
    mesh = draw(st.booleans())
    return {
        "mesh": mesh,
        "interval_seconds": draw(_seconds) if mesh else None,
        "window_seconds": draw(_seconds) if mesh else None,
        "peers_known": draw(_counts),
        "peers": draw(st.lists(_peers(), max_size=MAX_PEERS)) if mesh else [],
    }


@given(st.integers(0, protocol.MAX_SEQ), _tables())
def test_any_valid_table_round_trips(seq: int, table: dict[str, Any]) -> None:
    assert peers_problem(table) is None
    sent = copy.deepcopy(table)
    frame = protocol.encode_peers_reply(seq, table)
    assert protocol.decode_reply(frame) == PeersReply(seq, sent)
    assert protocol.encode_reply(PeersReply(seq, table)) == frame
