"""The pingd wire format, shared by the daemon and pingctl.

Every message is exactly one ZeroMQ frame (the ROUTER socket adds and strips the peer's
routing-id frame itself). A frame starts with a fixed 12-byte header, all integers big-endian:

    offset  size  field
    0       2     magic, the ASCII bytes "PD"
    2       1     protocol version (this module: 1)
    3       1     message type
    4       8     sequence number, chosen by the client and echoed in the reply

followed by a body that depends on the type:

    type  name          direction   body
    0x01  PING          request     none
    0x02  PONG          reply       count: unsigned 64-bit, the total after this ping
    0x03  STATUS        request     none
    0x04  STATUS_REPLY  reply       a UTF-8 JSON object (``schema.STATUS_SCHEMA``)
    0x05  PROBE         request     none: a peer's mesh probe, answered and never counted
    0x06  PROBE_REPLY   reply       none
    0x07  PEERS         request     none
    0x08  PEERS_REPLY   reply       a UTF-8 JSON object, the peer table (``schema.PEERS_SCHEMA``)
    0xFF  ERROR         reply       code: unsigned 16-bit, then a UTF-8 message

The magic and version stay at these offsets in every future version, so two programs of
different versions can always tell each other so. Nothing is ever unpickled or evaluated.

Addresses are written by ``pingd.shared.addresses``; the DNS-SD records both programs agree
on (service type, TXT record, the grammar of each announced value) are ``pingd.shared.service``.

docs/protocol.md is the specification (sequence rules, the order of checks, every error code's
exact condition, the STATUS_REPLY schema); its table of cases is the daemon's conformance test.
"""

from __future__ import annotations

import enum
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from pingd.shared import schema

MAGIC: Final = b"PD"
VERSION: Final = 1

#: The TCP port pingd listens on unless told otherwise ("PING" on a phone keypad).
DEFAULT_PORT: Final = 7464
HEADER: Final = struct.Struct("!2sBBQ")
HEADER_SIZE: Final = HEADER.size
_COUNT: Final = struct.Struct("!Q")
_ERROR_CODE: Final = struct.Struct("!H")

MAX_SEQ: Final = 2**64 - 1
MAX_COUNT: Final = 2**64 - 1

#: Largest request the daemon accepts; libzmq drops a peer that sends more (ZMQ_MAXMSGSIZE).
MAX_REQUEST_SIZE: Final = 256
#: Largest reply a client accepts (status replies are a few hundred bytes).
MAX_REPLY_SIZE: Final = 64 * 1024
#: Longest error text the daemon sends, in bytes of UTF-8.
MAX_ERROR_TEXT: Final = 512

# The JSON bodies' schemas live in pingd.shared.schema; these names are kept here for readers.
STATUS_SCHEMA: Final = schema.STATUS_SCHEMA
STATUS_KEYS: Final = tuple(STATUS_SCHEMA)
OPTIONAL_STATUS_SCHEMA: Final = schema.OPTIONAL_STATUS_SCHEMA
MAX_STATUS_TEXT: Final = schema.MAX_TEXT
status_problem = schema.status_problem


class MessageType(enum.IntEnum):
    PING = 0x01
    PONG = 0x02
    STATUS = 0x03
    STATUS_REPLY = 0x04
    PROBE = 0x05
    PROBE_REPLY = 0x06
    PEERS = 0x07
    PEERS_REPLY = 0x08
    ERROR = 0xFF


class ErrorCode(enum.IntEnum):
    """Why the daemon refused a request. Codes are stable; texts are for humans.
    docs/protocol.md gives each code's exact conditions and the order they are checked in."""

    MALFORMED = 1  # not a well-formed request frame: size, magic, header, frames, body
    UNSUPPORTED_VERSION = 2  # a pingd frame of a protocol version the daemon does not speak
    NOT_A_REQUEST = 3  # the type byte names no request of this version (reply types included)
    STORAGE_FAILED = 4  # the count could not be persisted; the ping was not counted
    COUNT_EXHAUSTED = 5  # the count reached 2**64 - 1
    # Compatibility only: code 3's old name, still spelled by tests/integration/test_hostile.py.
    # Delete it once that test says NOT_A_REQUEST; pingd never uses it.


@dataclass(slots=True)  # not frozen: a frozen dataclass is several times slower to create
class Ping:
    seq: int


@dataclass(slots=True)
class StatusRequest:
    seq: int


@dataclass(slots=True)
class ProbeRequest:
    seq: int


@dataclass(slots=True)
class PeersRequest:
    seq: int


@dataclass(slots=True)
class ProbeReply:
    seq: int


@dataclass(slots=True)
class PeersReply:
    seq: int
    table: dict[str, Any]  # checked against schema.PEERS_SCHEMA


@dataclass(slots=True)
class Pong:
    seq: int
    count: int


@dataclass(frozen=True, slots=True)
class Status:
    """A daemon's status, typed: what a STATUS_REPLY carries (``STATUS_SCHEMA``)."""

    count: int
    node_id: str
    name: str
    version: str
    protocol: int
    uptime_seconds: float
    pings_served: int
    durability: str
    storage: str
    security: str
    curve_public_key: str | None
    announced: str | None = None  # None: a daemon older than the key (so for the two below)
    probes_served: int | None = None
    mesh: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = {key: getattr(self, key) for key in STATUS_KEYS}
        for key in OPTIONAL_STATUS_SCHEMA:
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    @classmethod
    def from_json(cls, obj: Any) -> Status:
        """The status in a decoded JSON object; ValueError saying how it breaks the schema."""
        if not isinstance(obj, dict):
            raise ValueError("not an object")
        problem = status_problem(obj)
        if problem:
            raise ValueError(problem)
        values = {key: obj[key] for key in (*STATUS_KEYS, *OPTIONAL_STATUS_SCHEMA) if key in obj}
        values["uptime_seconds"] = float(values["uptime_seconds"])
        return cls(**values)


@dataclass(slots=True)
class StatusReply:
    seq: int
    status: Status


@dataclass(slots=True)
class ErrorReply:
    seq: int
    code: int
    text: str

    def describe(self) -> str:
        try:
            name = ErrorCode(self.code).name.lower().replace("_", " ")
        except ValueError:
            name = f"error {self.code}"
        return f"{name}: {self.text}" if self.text else name


Request = Ping | StatusRequest | ProbeRequest | PeersRequest
Reply = Pong | StatusReply | ErrorReply | ProbeReply | PeersReply


class ProtocolError(Exception):
    """A frame that is not a valid message of this protocol version.

    ``seq`` is the sequence number when the header could be read (so an error reply can
    still be matched by the client), else 0.
    """

    def __init__(self, code: ErrorCode, text: str, seq: int = 0) -> None:
        super().__init__(text)
        self.code = code
        self.text = text
        self.seq = seq


class VersionMismatch(ProtocolError):
    """A well-formed pingd frame of another protocol version."""

    def __init__(self, version: int, seq: int = 0) -> None:
        super().__init__(
            ErrorCode.UNSUPPORTED_VERSION,
            f"protocol version {version} is not supported (this side speaks {VERSION})",
            seq,
        )
        self.version = version


# Prefixes precomputed for the hot path: a PING is its prefix plus 8 sequence bytes, and so
# is the PONG answering it, plus the count.
PING_PREFIX: Final = MAGIC + bytes((VERSION, MessageType.PING))
PONG_PREFIX: Final = MAGIC + bytes((VERSION, MessageType.PONG))


def _header(message_type: MessageType, seq: int) -> bytes:
    return HEADER.pack(MAGIC, VERSION, message_type, seq)


def sequence_of(frame: bytes) -> int:
    """The sequence number a frame carries, or 0 when it is too short to carry one (an error
    about such a frame cannot name the request it answers; clients never choose 0)."""
    return int.from_bytes(frame[4:HEADER_SIZE], "big") if len(frame) >= HEADER_SIZE else 0


def _read_header(frame: bytes) -> tuple[int, int]:
    """Check a frame's header in the specified order; return (type, seq).

    Magic and version are read from the first 3 bytes, so a frame of any future version is
    told so (code 2) however short it is; the sequence number is echoed whenever the frame
    has its 8 bytes, bad magic and wrong version included.
    """
    seq = sequence_of(frame)
    if len(frame) < 3:
        raise ProtocolError(ErrorCode.MALFORMED, f"frame of {len(frame)} bytes is shorter than magic and version")
    if frame[:2] != MAGIC:
        raise ProtocolError(ErrorCode.MALFORMED, "not a pingd frame (bad magic)", seq)
    if frame[2] != VERSION:
        raise VersionMismatch(frame[2], seq)
    if len(frame) < HEADER_SIZE:
        raise ProtocolError(ErrorCode.MALFORMED, f"frame of {len(frame)} bytes is shorter than the 12-byte header")
    return frame[3], seq


# ---------------------------------------------------------------------------------------------
# Requests (client → daemon)


def encode_ping(seq: int) -> bytes:
    return _header(MessageType.PING, seq)


def encode_status_request(seq: int) -> bytes:
    return _header(MessageType.STATUS, seq)


def encode_probe(seq: int) -> bytes:
    return _header(MessageType.PROBE, seq)


def encode_peers_request(seq: int) -> bytes:
    return _header(MessageType.PEERS, seq)


def is_ping(frame: bytes) -> bool:
    """A well-formed PING of this version: exactly the frames ``decode_request`` decodes to a
    ``Ping``, told in one comparison (the daemon's hot path asks this of every request first)."""
    return len(frame) == HEADER_SIZE and frame.startswith(PING_PREFIX)


def decode_request(frame: bytes) -> Request:
    """Decode one request frame, checked in the order docs/protocol.md gives, or raise
    ProtocolError saying what is wrong with it."""
    if len(frame) > MAX_REQUEST_SIZE:
        raise ProtocolError(
            ErrorCode.MALFORMED, f"request of {len(frame)} bytes is larger than {MAX_REQUEST_SIZE}", sequence_of(frame)
        )
    message_type, seq = _read_header(frame)
    request = _REQUESTS.get(message_type)
    if request is None:
        if message_type in _REPLY_TYPES:
            text = f"type 0x{message_type:02x} ({MessageType(message_type).name}) is a reply, not a request"
        else:
            text = f"unknown request type 0x{message_type:02x}"
        raise ProtocolError(ErrorCode.NOT_A_REQUEST, text, seq)
    if len(frame) != HEADER_SIZE:
        name = MessageType(message_type).name
        raise ProtocolError(
            ErrorCode.MALFORMED, f"{len(frame) - HEADER_SIZE} unexpected body bytes after a {name}", seq
        )
    return request(seq)


_REQUESTS: Final[dict[int, type[Request]]] = {
    MessageType.PING: Ping,
    MessageType.STATUS: StatusRequest,
    MessageType.PROBE: ProbeRequest,
    MessageType.PEERS: PeersRequest,
}
_REPLY_TYPES: Final = frozenset(
    (MessageType.PONG, MessageType.STATUS_REPLY, MessageType.PROBE_REPLY, MessageType.PEERS_REPLY, MessageType.ERROR)
)


# ---------------------------------------------------------------------------------------------
# Replies (daemon → client)


def pong_for(ping: bytes, count: int) -> bytes:
    """The PONG answering the PING frame ``ping`` (one ``is_ping`` accepts) with the total
    ``count``: its sequence bytes copied, never decoded and encoded again."""
    return PONG_PREFIX + ping[4:HEADER_SIZE] + count.to_bytes(8, "big")


def encode_status_reply(seq: int, status: Mapping[str, Any]) -> bytes:
    """A STATUS_REPLY carrying the JSON object ``status`` (``Status.to_json()`` from the daemon)."""
    return _header(MessageType.STATUS_REPLY, seq) + json.dumps(status, separators=(",", ":"), sort_keys=True).encode()


def encode_probe_reply(seq: int) -> bytes:
    return _header(MessageType.PROBE_REPLY, seq)


def encode_peers_reply(seq: int, table: Mapping[str, Any]) -> bytes:
    """A PEERS_REPLY carrying the peer table ``table`` (``schema.PEERS_SCHEMA``)."""
    return _header(MessageType.PEERS_REPLY, seq) + json.dumps(table, separators=(",", ":"), sort_keys=True).encode()


def encode_error(seq: int, code: ErrorCode, text: str) -> bytes:
    body = text.encode("utf-8")[:MAX_ERROR_TEXT].decode("utf-8", "ignore").encode()
    return _header(MessageType.ERROR, seq) + _ERROR_CODE.pack(code) + body


def encode_reply(reply: StatusReply | ErrorReply | ProbeReply | PeersReply) -> bytes:
    """Any reply but a PONG (``pong_for`` builds those, from the PING itself)."""
    if isinstance(reply, StatusReply):
        return encode_status_reply(reply.seq, reply.status.to_json())
    if isinstance(reply, ProbeReply):
        return encode_probe_reply(reply.seq)
    if isinstance(reply, PeersReply):
        return encode_peers_reply(reply.seq, reply.table)
    return encode_error(reply.seq, ErrorCode(reply.code), reply.text)


def decode_reply(frame: bytes) -> Reply:
    """Decode one reply frame, or raise ProtocolError (VersionMismatch for another version)."""
    if len(frame) > MAX_REPLY_SIZE:
        raise ProtocolError(ErrorCode.MALFORMED, f"reply of {len(frame)} bytes is too large")
    message_type, seq = _read_header(frame)
    body = frame[HEADER_SIZE:]
    if message_type == MessageType.PONG:
        if len(body) != _COUNT.size:
            raise ProtocolError(ErrorCode.MALFORMED, "PONG body is not 8 bytes", seq)
        return Pong(seq, _COUNT.unpack(body)[0])
    if message_type == MessageType.STATUS_REPLY:
        try:
            return StatusReply(seq, Status.from_json(_json_body(body, "STATUS_REPLY", seq)))
        except ValueError as exc:
            raise ProtocolError(ErrorCode.MALFORMED, f"STATUS_REPLY: {exc}", seq) from None
    if message_type == MessageType.PROBE_REPLY:
        if body:
            raise ProtocolError(ErrorCode.MALFORMED, "PROBE_REPLY has a body", seq)
        return ProbeReply(seq)
    if message_type == MessageType.PEERS_REPLY:
        table = _json_body(body, "PEERS_REPLY", seq)
        wrong = schema.peers_problem(table)
        if wrong:
            raise ProtocolError(ErrorCode.MALFORMED, f"PEERS_REPLY: {wrong}", seq)
        return PeersReply(seq, table)
    if message_type == MessageType.ERROR:
        if len(body) < _ERROR_CODE.size:
            raise ProtocolError(ErrorCode.MALFORMED, "ERROR body is shorter than its code", seq)
        (code,) = _ERROR_CODE.unpack_from(body)
        return ErrorReply(seq, code, body[_ERROR_CODE.size :].decode("utf-8", "replace"))
    raise ProtocolError(ErrorCode.MALFORMED, f"unknown reply type 0x{message_type:02x}", seq)


def _json_body(body: bytes, what: str, seq: int) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(ErrorCode.MALFORMED, f"{what} body: {exc}", seq) from None
    except RecursionError:
        raise ProtocolError(ErrorCode.MALFORMED, f"{what} body is nested too deeply", seq) from None
