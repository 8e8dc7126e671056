import json

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
from tests.support.strategies import statuses

seqs = st.integers(0, protocol.MAX_SEQ)


@given(seqs)
def test_ping_round_trips(seq):
    frame = protocol.encode_ping(seq)
    assert len(frame) == protocol.HEADER_SIZE
    assert protocol.decode_request(frame) == Ping(seq)


@given(seqs)
def test_status_request_round_trips(seq):
    assert protocol.decode_request(protocol.encode_status_request(seq)) == StatusRequest(seq)


@given(seqs, st.integers(0, protocol.MAX_COUNT))
def test_pong_round_trips(seq, count):
    frame = protocol.encode_pong(seq, count)
    assert len(frame) == 20
    assert protocol.decode_reply(frame) == Pong(seq, count)


@given(seqs, statuses)
def test_status_reply_round_trips(seq, status):
    typed = protocol.Status.from_json(status)
    assert protocol.decode_reply(protocol.encode_status_reply(seq, status)) == StatusReply(seq, typed)
    assert protocol.decode_reply(protocol.encode_status_reply(seq, typed)) == StatusReply(seq, typed)
    known = (*protocol.STATUS_KEYS, *protocol.OPTIONAL_STATUS_SCHEMA)
    assert {k: v for k, v in typed.to_json().items()} == {k: status[k] for k in known if k in status} | {
        "uptime_seconds": float(status["uptime_seconds"])
    }


def test_a_later_key_is_checked_when_present_and_never_required():
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
def test_status_replies_that_break_the_schema_are_malformed(change, problem):
    good = {key: (0 if kind in (int, float) else "x") for key, (kind, _) in protocol.STATUS_SCHEMA.items()}
    frame = protocol.encode_status_reply(9, {**good, **change})
    with pytest.raises(ProtocolError, match=problem) as info:
        protocol.decode_reply(frame)
    assert info.value.seq == 9 and info.value.code == ErrorCode.MALFORMED


def test_a_status_reply_without_a_key_or_nested_too_deep_is_malformed():
    with pytest.raises(ProtocolError, match="node_id is missing"):
        protocol.decode_reply(protocol.encode_status_reply(1, {"count": 5}))
    deep = protocol.encode_status_reply(1, {})[: protocol.HEADER_SIZE] + b"[" * 30000 + b"]" * 30000
    with pytest.raises(ProtocolError, match="nested too deeply"):
        protocol.decode_reply(deep)


@given(st.binary(max_size=200))
def test_any_reply_bytes_decode_or_raise_a_protocol_error(frame):
    try:
        protocol.decode_reply(frame)
    except ProtocolError:
        pass


@given(seqs, st.sampled_from(ErrorCode), st.text(max_size=100))
def test_error_round_trips(seq, code, text):
    reply = protocol.decode_reply(protocol.encode_error(seq, code, text))
    assert reply == ErrorReply(seq, code, text)


def test_error_text_is_bounded_and_stays_utf8():
    frame = protocol.encode_error(1, ErrorCode.MALFORMED, "é" * 1000)
    reply = protocol.decode_reply(frame)
    assert len(reply.text.encode()) <= protocol.MAX_ERROR_TEXT
    assert set(reply.text) == {"é"}


def test_wire_layout_is_as_documented():
    assert protocol.encode_ping(0x0102030405060708) == b"PD\x01\x01" + bytes(range(1, 9))
    assert protocol.encode_pong(1, 2) == b"PD\x01\x02" + (1).to_bytes(8, "big") + (2).to_bytes(8, "big")
    assert (
        protocol.encode_error(3, ErrorCode.UNKNOWN_TYPE, "x") == b"PD\x01\xff" + (3).to_bytes(8, "big") + b"\x00\x03x"
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
        (b"PD\x01\x02" + bytes(16), ErrorCode.UNKNOWN_TYPE),  # a PONG is not a request
        (b"PD\x01\x77" + bytes(8), ErrorCode.UNKNOWN_TYPE),
        (b"PD\x01\x01" + bytes(300), ErrorCode.MALFORMED),  # oversized
    ],
)
def test_bad_requests_are_rejected_with_a_code(frame, code):
    with pytest.raises(ProtocolError) as info:
        protocol.decode_request(frame)
    assert info.value.code == code


def test_other_version_is_named_and_keeps_the_sequence_number():
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
def test_bad_replies_are_rejected(frame):
    with pytest.raises(ProtocolError):
        protocol.decode_reply(frame)


@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_escape_as_anything_but_protocol_error(data):
    for decode in (protocol.decode_request, protocol.decode_reply):
        try:
            decode(data)
        except ProtocolError:
            pass


def test_unknown_error_codes_are_described():
    assert ErrorReply(1, 999, "why").describe() == "error 999: why"
    assert ErrorReply(1, ErrorCode.STORAGE_FAILED, "disk").describe() == "storage failed: disk"
