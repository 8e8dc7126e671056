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
    0x04  STATUS_REPLY  reply       a UTF-8 JSON object (see ``STATUS_KEYS``)
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

#: The STATUS_REPLY object: every key it carries, the JSON type of its value, and whether it
#: may be null. Later versions may add keys; a reader ignores those it does not know.
STATUS_SCHEMA: Final[dict[str, tuple[type, bool]]] = {
    "count": (int, False),  # 0 .. 2**64-1: read it as a 64-bit integer, not a double
    "node_id": (str, False),
    "name": (str, False),
    "version": (str, False),
    "protocol": (int, False),
    "uptime_seconds": (float, False),  # seconds since start, a finite number >= 0
    "pings_served": (int, False),  # PONGs sent since start (not errors, not STATUS replies)
    "durability": (str, False),  # "periodic" or "always"
    "storage": (str, False),  # "ok", or why the count cannot be persisted right now
    "security": (str, False),  # "plain", "curve" or "curve+allow-list"
    "curve_public_key": (str, True),  # the daemon's CURVE key (Z85, 40 characters); null when plain
}
STATUS_KEYS: Final = tuple(STATUS_SCHEMA)
#: Keys added after the first release: checked when present, absent from older daemons.
OPTIONAL_STATUS_SCHEMA: Final[dict[str, tuple[type, bool]]] = {
    "announced": (str, False),  # how the daemon makes itself known, and whether that works now
}
#: Longest string value a STATUS_REPLY carries.
MAX_STATUS_TEXT: Final = 1024


class MessageType(enum.IntEnum):
    PING = 0x01
    PONG = 0x02
    STATUS = 0x03
    STATUS_REPLY = 0x04
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
    announced: str | None = None  # None: a daemon older than the key

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


Request = Ping | StatusRequest
Reply = Pong | StatusReply | ErrorReply


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
    if message_type != MessageType.PING and message_type != MessageType.STATUS:
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
    return Ping(seq) if message_type == MessageType.PING else StatusRequest(seq)


_REPLY_TYPES: Final = frozenset((MessageType.PONG, MessageType.STATUS_REPLY, MessageType.ERROR))


# ---------------------------------------------------------------------------------------------
# Replies (daemon → client)


def pong_for(ping: bytes, count: int) -> bytes:
    """The PONG answering the PING frame ``ping`` (one ``is_ping`` accepts) with the total
    ``count``: its sequence bytes copied, never decoded and encoded again."""
    return PONG_PREFIX + ping[4:HEADER_SIZE] + count.to_bytes(8, "big")


def encode_status_reply(seq: int, status: Mapping[str, Any]) -> bytes:
    """A STATUS_REPLY carrying the JSON object ``status`` (``Status.to_json()`` from the daemon)."""
    return _header(MessageType.STATUS_REPLY, seq) + json.dumps(status, separators=(",", ":"), sort_keys=True).encode()


def encode_error(seq: int, code: ErrorCode, text: str) -> bytes:
    body = text.encode("utf-8")[:MAX_ERROR_TEXT].decode("utf-8", "ignore").encode()
    return _header(MessageType.ERROR, seq) + _ERROR_CODE.pack(code) + body


def encode_reply(reply: StatusReply | ErrorReply) -> bytes:
    """Any reply but a PONG (``pong_for`` builds those, from the PING itself)."""
    if isinstance(reply, StatusReply):
        return encode_status_reply(reply.seq, reply.status.to_json())
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
            status = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ProtocolError(ErrorCode.MALFORMED, f"STATUS_REPLY body: {exc}", seq) from None
        except RecursionError:
            raise ProtocolError(ErrorCode.MALFORMED, "STATUS_REPLY body is nested too deeply", seq) from None
        try:
            return StatusReply(seq, Status.from_json(status))
        except ValueError as exc:
            raise ProtocolError(ErrorCode.MALFORMED, f"STATUS_REPLY: {exc}", seq) from None
    if message_type == MessageType.ERROR:
        if len(body) < _ERROR_CODE.size:
            raise ProtocolError(ErrorCode.MALFORMED, "ERROR body is shorter than its code", seq)
        (code,) = _ERROR_CODE.unpack_from(body)
        return ErrorReply(seq, code, body[_ERROR_CODE.size :].decode("utf-8", "replace"))
    raise ProtocolError(ErrorCode.MALFORMED, f"unknown reply type 0x{message_type:02x}", seq)


def status_problem(status: dict[str, Any]) -> str | None:
    """What makes ``status`` break ``STATUS_SCHEMA``, or None if it keeps it."""
    for key, (kind, nullable) in (*STATUS_SCHEMA.items(), *OPTIONAL_STATUS_SCHEMA.items()):
        if key not in status:
            if key in OPTIONAL_STATUS_SCHEMA:
                continue
            return f"{key} is missing"
        value = status[key]
        if value is None:
            if nullable:
                continue
            return f"{key} is null"
        if kind is int:
            if type(value) is not int or not 0 <= value <= MAX_COUNT:
                return f"{key} is not a whole number 0..2**64-1"
        elif kind is float:
            if type(value) not in (int, float) or not 0 <= value < float("inf"):
                return f"{key} is not a finite number >= 0"
        elif type(value) is not str or len(value) > MAX_STATUS_TEXT:
            return f"{key} is not a string of at most {MAX_STATUS_TEXT} characters"
    return None
