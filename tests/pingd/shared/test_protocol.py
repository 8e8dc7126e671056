import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pingd.shared import protocol
from pingd.shared.protocol import (
    ErrorCode,
    ErrorReply,
    Ping,
    Pong,
    ProtocolError,
    StatusReply,
    StatusRequest,
    VersionMismatch,
)
from tests.support import wire
from tests.support.strategies import statuses

seqs = st.integers(0, protocol.MAX_SEQ)


@given(seqs)
def test_ping_round_trips(seq: int) -> None:
    frame = protocol.encode_ping(seq)
    assert len(frame) == protocol.HEADER_SIZE
    assert protocol.decode_request(frame) == Ping(seq)


@given(seqs)
def test_status_request_round_trips(seq: int) -> None:
    assert protocol.decode_request(protocol.encode_status_request(seq)) == StatusRequest(seq)


@given(seqs, st.integers(0, protocol.MAX_COUNT))
def test_the_pong_for_a_ping_echoes_its_sequence_and_round_trips(seq: int, count: int) -> None:
    frame = protocol.pong_for(protocol.encode_ping(seq), count)
    assert frame == wire.pong(seq, count) and len(frame) == 20
    assert protocol.decode_reply(frame) == Pong(seq, count)


near_pings = st.one_of(
    st.binary(max_size=40),
    st.builds(
        bytes.__add__,
        st.sampled_from([b"PD\x01\x01", b"PD\x01\x03", b"PD\x01\x02", b"PD\x02\x01", b"PE\x01\x01"]),
        st.binary(max_size=10),
    ),
)


@given(near_pings)
def test_is_ping_accepts_exactly_what_decodes_to_a_ping(frame: bytes) -> None:
    """The daemon's fast test and the full decoder agree: one notion of a PING."""
    try:
        decoded = protocol.decode_request(frame)
    except ProtocolError:
        decoded = None
    assert protocol.is_ping(frame) == isinstance(decoded, Ping)


@given(seqs, st.binary(min_size=8, max_size=8))
def test_is_ping_on_near_misses(seq: int, other: bytes) -> None:
    ping = protocol.encode_ping(seq)
    assert protocol.is_ping(ping)
    assert protocol.is_ping(ping[:4] + other)  # any sequence bytes
    assert not protocol.is_ping(ping + b"\x00")  # a body
    assert not protocol.is_ping(ping[:-1])  # short
    assert not protocol.is_ping(protocol.encode_status_request(seq))
    assert not protocol.is_ping(b"PD\x02\x01" + ping[4:])  # another version


@given(seqs, statuses)
def test_status_reply_round_trips(seq: int, status: dict[str, Any]) -> None:
    typed = protocol.Status.from_json(status)
    assert protocol.decode_reply(protocol.encode_status_reply(seq, status)) == StatusReply(seq, typed)
    assert protocol.decode_reply(protocol.encode_reply(StatusReply(seq, typed))) == StatusReply(seq, typed)
    known = (*protocol.STATUS_KEYS, *protocol.OPTIONAL_STATUS_SCHEMA)
    assert {k: v for k, v in typed.to_json().items()} == {k: status[k] for k in known if k in status} | {
        "uptime_seconds": float(status["uptime_seconds"])
    }


def test_a_later_key_is_checked_when_present_and_never_required() -> None:
    status = {key: (0 if kind in (int, float) else "x") for key, (kind, _) in protocol.STATUS_SCHEMA.items()}
    assert protocol.Status.from_json(status).announced is None
    assert protocol.Status.from_json(status | {"announced": "DNS: registered"}).announced == "DNS: registered"
    assert protocol.status_problem(status | {"announced": 5}) == "announced is not a string of at most 1024 characters"
    assert protocol.status_problem(status | {"announced": None}) == "announced is null"


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"count": -1}, "count is not a whole number"),
        ({"count": 2**64}, "count is not a whole number"),
        ({"count": 1.5}, "count is not a whole number"),
        ({"count": True}, "count is not a whole number"),
        ({"uptime_seconds": "1"}, "uptime_seconds is not a finite number"),
        ({"uptime_seconds": -1}, "uptime_seconds is not a finite number"),
        ({"name": None}, "name is null"),
        ({"name": 5}, "name is not a string"),
        ({"name": "x" * 2000}, "name is not a string of at most"),
    ],
)
def test_status_replies_that_break_the_schema_are_malformed(change: dict[str, Any], problem: str) -> None:
    good = {key: (0 if kind in (int, float) else "x") for key, (kind, _) in protocol.STATUS_SCHEMA.items()}
    frame = protocol.encode_status_reply(9, {**good, **change})
    with pytest.raises(ProtocolError, match=problem) as info:
        protocol.decode_reply(frame)
    assert info.value.seq == 9 and info.value.code == ErrorCode.MALFORMED


def test_a_status_reply_without_a_key_or_nested_too_deep_is_malformed() -> None:
    with pytest.raises(ProtocolError, match="node_id is missing"):
        protocol.decode_reply(protocol.encode_status_reply(1, {"count": 5}))
    deep = protocol.encode_status_reply(1, {})[: protocol.HEADER_SIZE] + b"[" * 30000 + b"]" * 30000
    with pytest.raises(ProtocolError, match="nested too deeply"):
        protocol.decode_reply(deep)


@given(st.binary(max_size=200))
def test_any_reply_bytes_decode_or_raise_a_protocol_error(frame: bytes) -> None:
    try:
        protocol.decode_reply(frame)
    except ProtocolError:
        pass


@given(seqs, st.sampled_from(ErrorCode), st.text(max_size=100))
def test_error_round_trips(seq: int, code: ErrorCode, text: str) -> None:
    reply = protocol.decode_reply(protocol.encode_error(seq, code, text))
    assert reply == ErrorReply(seq, code, text)
    assert protocol.encode_reply(reply) == protocol.encode_error(seq, code, text)


def test_error_codes_are_stable() -> None:
    assert {code.name: int(code) for code in ErrorCode} == {
        "MALFORMED": 1,
        "UNSUPPORTED_VERSION": 2,
        "NOT_A_REQUEST": 3,
        "STORAGE_FAILED": 4,
        "COUNT_EXHAUSTED": 5,
    }


def test_error_text_is_bounded_and_stays_utf8() -> None:
    frame = protocol.encode_error(1, ErrorCode.MALFORMED, "é" * 1000)
    reply = protocol.decode_reply(frame)
    assert isinstance(reply, ErrorReply)
    assert len(reply.text.encode()) <= protocol.MAX_ERROR_TEXT
    assert set(reply.text) == {"é"}


def test_wire_layout_is_as_documented() -> None:
    assert protocol.encode_ping(0x0102030405060708) == b"PD\x01\x01" + bytes(range(1, 9))
    ping = protocol.encode_ping(1)
    assert protocol.pong_for(ping, 2) == b"PD\x01\x02" + (1).to_bytes(8, "big") + (2).to_bytes(8, "big")
    assert (
        protocol.encode_error(3, ErrorCode.NOT_A_REQUEST, "x") == b"PD\x01\xff" + (3).to_bytes(8, "big") + b"\x00\x03x"
    )
    body = protocol.encode_status_reply(4, {"count": 5})[protocol.HEADER_SIZE :]
    assert json.loads(body) == {"count": 5}


@pytest.mark.parametrize(
    "frame, code",
    [
        (b"", ErrorCode.MALFORMED),
        (b"PD\x01", ErrorCode.MALFORMED),
        (b"XX\x01\x01" + bytes(8), ErrorCode.MALFORMED),
        (b"PD\x01\x01" + bytes(9), ErrorCode.MALFORMED),  # trailing byte after a PING
        (b"PD\x01\x03" + bytes(8) + b"x", ErrorCode.MALFORMED),
        (b"PD\x01\x02" + bytes(16), ErrorCode.NOT_A_REQUEST),  # a PONG is not a request
        (b"PD\x01\x77" + bytes(8), ErrorCode.NOT_A_REQUEST),
        (b"PD\x01\x01" + bytes(300), ErrorCode.MALFORMED),  # oversized
    ],
)
def test_bad_requests_are_rejected_with_a_code(frame: bytes, code: ErrorCode) -> None:
    with pytest.raises(ProtocolError) as info:
        protocol.decode_request(frame)
    assert info.value.code == code


def test_other_version_is_named_and_keeps_the_sequence_number() -> None:
    frame = b"PD\x02\x01" + (42).to_bytes(8, "big")
    with pytest.raises(VersionMismatch) as info:
        protocol.decode_request(frame)
    assert info.value.version == 2
    assert info.value.seq == 42
    assert info.value.code == ErrorCode.UNSUPPORTED_VERSION
    with pytest.raises(VersionMismatch):
        protocol.decode_reply(b"PD\x09\x02" + bytes(16))


@pytest.mark.parametrize(
    "frame",
    [
        b"PD\x01\x02" + bytes(8) + bytes(7),  # short PONG
        b"PD\x01\x04" + bytes(8) + b"{not json",
        b"PD\x01\x04" + bytes(8) + b"[1, 2]",
        b"PD\x01\x04" + bytes(8) + b"\xff\xfe",
        b"PD\x01\xff" + bytes(8) + b"\x00",  # error without a whole code
        b"PD\x01\x01" + bytes(8),  # a PING is not a reply
    ],
)
def test_bad_replies_are_rejected(frame: bytes) -> None:
    with pytest.raises(ProtocolError):
        protocol.decode_reply(frame)


@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_escape_as_anything_but_protocol_error(data: bytes) -> None:
    for decode in (protocol.decode_request, protocol.decode_reply):
        try:
            decode(data)
        except ProtocolError:
            pass


def test_unknown_error_codes_are_described() -> None:
    assert ErrorReply(1, 999, "why").describe() == "error 999: why"
    assert ErrorReply(1, ErrorCode.STORAGE_FAILED, "disk").describe() == "storage failed: disk"


# --- what a peer is told: the code, the sequence echoed, and the text, for every refusal -------

MALFORMED, UNSUPPORTED, NOT_A_REQUEST = ErrorCode.MALFORMED, ErrorCode.UNSUPPORTED_VERSION, ErrorCode.NOT_A_REQUEST


def _seq(n: int) -> bytes:
    return n.to_bytes(8, "big")


def _smallest_status() -> dict[str, Any]:
    return {key: (0 if kind in (int, float) else "x") for key, (kind, _) in protocol.STATUS_SCHEMA.items()}


@pytest.mark.parametrize(
    "frame, code, seq, text",
    [
        (b"", MALFORMED, 0, "frame of 0 bytes is shorter than magic and version"),
        (b"PD", MALFORMED, 0, "frame of 2 bytes is shorter than magic and version"),
        (b"PD\x02", UNSUPPORTED, 0, "protocol version 2 is not supported (this side speaks 1)"),
        (b"PE\x01", MALFORMED, 0, "not a pingd frame (bad magic)"),
        (b"XX\x01\x01" + _seq(7), MALFORMED, 7, "not a pingd frame (bad magic)"),
        (b"XX\x01\x01" + b"\x01" * 7, MALFORMED, 0, "not a pingd frame (bad magic)"),  # no whole sequence
        (b"PD\x02\x01" + _seq(6), UNSUPPORTED, 6, "protocol version 2 is not supported (this side speaks 1)"),
        (b"PD\x01\x01" + b"\x01" * 7, MALFORMED, 0, "frame of 11 bytes is shorter than the 12-byte header"),
        (b"PD\x01\x42" + _seq(8), NOT_A_REQUEST, 8, "unknown request type 0x42"),
        (b"PD\x01\x42" + _seq(9) + b"\xff", NOT_A_REQUEST, 9, "unknown request type 0x42"),
        (b"PD\x01\x02" + _seq(10) + _seq(1), NOT_A_REQUEST, 10, "type 0x02 (PONG) is a reply, not a request"),
        (b"PD\x01\x04" + _seq(11) + b"{}", NOT_A_REQUEST, 11, "type 0x04 (STATUS_REPLY) is a reply, not a request"),
        (b"PD\x01\xff" + _seq(12) + b"\x00\x01", NOT_A_REQUEST, 12, "type 0xff (ERROR) is a reply, not a request"),
        (b"PD\x01\x01" + _seq(13) + b"\x00", MALFORMED, 13, "1 unexpected body bytes after a PING"),
        (b"PD\x01\x03" + _seq(14) + b"ab", MALFORMED, 14, "2 unexpected body bytes after a STATUS"),
        (b"PD\x01\x01" + _seq(15) + bytes(244), MALFORMED, 15, "244 unexpected body bytes after a PING"),  # 256
        (b"PD\x01\x01" + _seq(16) + bytes(245), MALFORMED, 16, "request of 257 bytes is larger than 256"),
    ],
)
def test_a_refused_request_is_told_why_with_its_sequence(frame: bytes, code: ErrorCode, seq: int, text: str) -> None:
    """What the daemon answers (``encode_error(e.seq, e.code, e.text)``): the order of the
    checks, the sequence echoed whenever the frame carries all 8 bytes of it, and the text."""
    with pytest.raises(ProtocolError) as info:
        protocol.decode_request(frame)
    assert (info.value.code, info.value.seq, info.value.text, str(info.value)) == (code, seq, text, text)


@pytest.mark.parametrize(
    "frame, seq, text",
    [
        (b"PD\x01\x02" + _seq(1) + bytes(7), 1, "PONG body is not 8 bytes"),
        (b"PD\x01\x02" + _seq(2) + bytes(9), 2, "PONG body is not 8 bytes"),
        (b"PD\x01\x04" + _seq(3) + b"[1, 2]", 3, "STATUS_REPLY: not an object"),
        (
            b"PD\x01\x04" + _seq(4) + b"\xff\xfe",
            4,
            "STATUS_REPLY body: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte",
        ),
        (b"PD\x01\x04" + _seq(5) + b"[" * 30000 + b"]" * 30000, 5, "STATUS_REPLY body is nested too deeply"),
        (b"PD\x01\xff" + _seq(6) + b"\x00", 6, "ERROR body is shorter than its code"),
        (b"PD\x01\x01" + _seq(7), 7, "unknown reply type 0x01"),
        (b"PD\x01\x03" + _seq(8), 8, "unknown reply type 0x03"),
        (b"PD\x01\x77" + _seq(9), 9, "unknown reply type 0x77"),
    ],
)
def test_a_bad_reply_says_why_and_keeps_its_sequence(frame: bytes, seq: int, text: str) -> None:
    with pytest.raises(ProtocolError) as info:
        protocol.decode_reply(frame)
    assert (info.value.code, info.value.seq, info.value.text) == (MALFORMED, seq, text)


def test_a_status_reply_body_that_is_not_json_names_the_parse_error() -> None:
    with pytest.raises(ProtocolError) as info:
        protocol.decode_reply(b"PD\x01\x04" + _seq(3) + b"{not json")
    assert (info.value.code, info.value.seq) == (MALFORMED, 3)
    assert info.value.text.startswith("STATUS_REPLY body: Expecting property name")


def test_a_reply_may_be_64_kib_and_not_a_byte_more() -> None:
    good = _smallest_status()
    frame = protocol.encode_status_reply(5, good)
    frame += b" " * (protocol.MAX_REPLY_SIZE - len(frame))  # JSON may end in white space
    assert len(frame) == 65536
    assert protocol.decode_reply(frame) == StatusReply(5, protocol.Status.from_json(good))
    with pytest.raises(ProtocolError) as info:
        protocol.decode_reply(frame + b" ")
    # Too large to be looked at: not even its sequence number is read.
    assert (info.value.code, info.value.seq, info.value.text) == (MALFORMED, 0, "reply of 65537 bytes is too large")


def test_an_error_text_that_is_not_utf8_is_shown_with_replacement_characters() -> None:
    frame = b"PD\x01\xff" + _seq(3) + b"\x00\x04" + b"disk \xff full"
    assert protocol.decode_reply(frame) == ErrorReply(3, ErrorCode.STORAGE_FAILED, "disk \ufffd full")


def test_an_error_text_cut_at_512_bytes_drops_a_split_character() -> None:
    frame = protocol.encode_error(1, ErrorCode.MALFORMED, "a" + "é" * 600)  # byte 512 splits an é
    body = frame[protocol.HEADER_SIZE + 2 :]
    assert body.decode("utf-8") == "a" + "é" * 255  # strict UTF-8: 511 bytes, no half character


def test_a_status_reply_is_compact_json_with_sorted_keys() -> None:
    """The same status is the same bytes whatever the order of its keys, and no spaces."""
    frame = protocol.encode_status_reply(4, {"b": 1, "a": [1, 2]})
    assert frame == b"PD\x01\x04" + _seq(4) + b'{"a":[1,2],"b":1}'


@pytest.mark.parametrize(
    "frame, seq",
    [
        (b"", 0),
        (b"PD\x01\x01" + b"\xff" * 7, 0),  # 11 bytes: no whole sequence number
        (b"PD\x01\x01" + _seq(0x0102030405060708), 0x0102030405060708),
        (b"XX\x09\x77" + _seq(2**64 - 1) + b"body", 2**64 - 1),  # whatever the rest says
    ],
)
def test_the_sequence_of_a_frame_is_its_bytes_4_to_11_or_0(frame: bytes, seq: int) -> None:
    assert protocol.sequence_of(frame) == seq


def test_the_largest_values_the_schema_allows_are_accepted() -> None:
    good = _smallest_status()
    edge = good | {"count": protocol.MAX_COUNT, "pings_served": 0, "name": "n" * protocol.MAX_STATUS_TEXT}
    assert protocol.status_problem(edge) is None
    decoded = protocol.decode_reply(protocol.encode_status_reply(1, edge))
    assert decoded == StatusReply(1, protocol.Status.from_json(edge))


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"uptime_seconds": float("inf")}, "uptime_seconds is not a finite number >= 0"),
        ({"uptime_seconds": float("nan")}, "uptime_seconds is not a finite number >= 0"),
        ({"name": "n" * 1025}, "name is not a string of at most 1024 characters"),
        # A null where null is allowed does not end the checks: the keys after it are still looked at.
        ({"curve_public_key": None, "announced": 5}, "announced is not a string of at most 1024 characters"),
    ],
)
def test_the_schema_limits_are_exact(change: dict[str, Any], problem: str) -> None:
    good = _smallest_status()
    with pytest.raises(ProtocolError) as info:
        protocol.decode_reply(protocol.encode_status_reply(2, good | change))  # Python's JSON writes Infinity, NaN
    assert info.value.text == f"STATUS_REPLY: {problem}"


def test_an_error_without_text_is_described_by_its_name_alone() -> None:
    assert ErrorReply(1, ErrorCode.STORAGE_FAILED, "").describe() == "storage failed"
    assert ErrorReply(1, 999, "").describe() == "error 999"


# --- PROBE and PEERS (docs/protocol.md, "PROBE and PEERS") ---------------------------------------


@given(seqs)
def test_probe_and_peers_requests_round_trip(seq: int) -> None:
    probe, peers = protocol.encode_probe(seq), protocol.encode_peers_request(seq)
    assert probe == b"PD\x01\x05" + _seq(seq) and peers == b"PD\x01\x07" + _seq(seq)
    assert protocol.decode_request(probe) == protocol.ProbeRequest(seq)
    assert protocol.decode_request(peers) == protocol.PeersRequest(seq)
    assert not protocol.is_ping(probe) and not protocol.is_ping(peers)


def test_the_new_types_have_their_documented_numbers() -> None:
    types = protocol.MessageType
    assert (types.PROBE, types.PROBE_REPLY, types.PEERS, types.PEERS_REPLY) == (5, 6, 7, 8)


@pytest.mark.parametrize(
    "frame, code, seq, text",
    [
        (b"PD\x01\x05" + _seq(21) + b"\x00", MALFORMED, 21, "1 unexpected body bytes after a PROBE"),
        (b"PD\x01\x07" + _seq(22) + b"{}", MALFORMED, 22, "2 unexpected body bytes after a PEERS"),
        (b"PD\x01\x06" + _seq(23), NOT_A_REQUEST, 23, "type 0x06 (PROBE_REPLY) is a reply, not a request"),
        (b"PD\x01\x08" + _seq(24) + b"{}", NOT_A_REQUEST, 24, "type 0x08 (PEERS_REPLY) is a reply, not a request"),
        (b"PD\x01\x09" + _seq(25), NOT_A_REQUEST, 25, "unknown request type 0x09"),
    ],
)
def test_a_body_after_probe_or_peers_is_malformed_and_their_replies_are_no_requests(
    frame: bytes, code: ErrorCode, seq: int, text: str
) -> None:
    with pytest.raises(ProtocolError) as info:
        protocol.decode_request(frame)
    assert (info.value.code, info.value.seq, info.value.text) == (code, seq, text)


@given(seqs)
def test_a_probe_reply_is_its_header_alone_and_round_trips(seq: int) -> None:
    frame = protocol.encode_probe_reply(seq)
    assert frame == b"PD\x01\x06" + _seq(seq)
    assert protocol.decode_reply(frame) == protocol.ProbeReply(seq)
    assert protocol.encode_reply(protocol.ProbeReply(seq)) == frame


@pytest.mark.parametrize("body", [b"\x00", b"{}", bytes(8)])
def test_a_probe_reply_with_a_body_is_malformed(body: bytes) -> None:
    with pytest.raises(ProtocolError) as info:
        protocol.decode_reply(protocol.encode_probe_reply(31) + body)
    assert (info.value.code, info.value.seq, info.value.text) == (MALFORMED, 31, "PROBE_REPLY has a body")


_NO_MESH = {"mesh": False, "interval_seconds": None, "window_seconds": None, "peers_known": 0, "peers": []}


def test_a_peers_reply_is_compact_sorted_json_and_decodes_to_its_table() -> None:
    frame = protocol.encode_peers_reply(6, dict(reversed(_NO_MESH.items())))
    assert frame == b"PD\x01\x08" + _seq(6) + (
        b'{"interval_seconds":null,"mesh":false,"peers":[],"peers_known":0,"window_seconds":null}'
    )
    assert protocol.decode_reply(frame) == protocol.PeersReply(6, _NO_MESH)


@pytest.mark.parametrize(
    "body, text",
    [
        (b"[]", "PEERS_REPLY: not an object"),
        (b"{}", "PEERS_REPLY: mesh is missing"),
        (json.dumps(_NO_MESH | {"mesh": 0}).encode(), "PEERS_REPLY: mesh is not true or false"),
        (json.dumps(_NO_MESH | {"peers": [{}]}).encode(), "PEERS_REPLY: peers is not empty without mesh"),
        (json.dumps(_NO_MESH | {"mesh": True, "peers": [{}]}).encode(), "PEERS_REPLY: peers[0]: name is missing"),
        (
            json.dumps(_NO_MESH | {"peers_known": -1}).encode(),
            "PEERS_REPLY: peers_known is not a whole number 0..2**64-1",
        ),
        (b"{not json", "PEERS_REPLY body: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
        (b"\xff", "PEERS_REPLY body: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"),
        (b"[" * 30000 + b"]" * 30000, "PEERS_REPLY body is nested too deeply"),
    ],
)
def test_a_peers_reply_that_breaks_the_schema_is_a_protocol_error(body: bytes, text: str) -> None:
    with pytest.raises(ProtocolError) as info:
        protocol.decode_reply(b"PD\x01\x08" + _seq(41) + body)
    assert (info.value.code, info.value.seq, info.value.text) == (MALFORMED, 41, text)
