"""A first contact's connection: the host resolved to the addresses to try, the ZeroMQ monitor
events pingctl acts on, and a plain TCP connection's own error, so a refused port or an
unreachable host is told at once by its reason rather than after the reply timeout."""

from __future__ import annotations

import errno
import socket
import struct

import zmq

from pingctl.errors import Unresolvable
from pingctl.model import Target
from pingd.shared import addresses

EVENTS = (
    zmq.EVENT_CONNECTED
    | zmq.EVENT_CONNECT_RETRIED
    | zmq.EVENT_DISCONNECTED
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
)
HANDSHAKE_FAILED = zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_DISCONNECTED


def monitor_event(frames: list[bytes]) -> int:
    """The event in a ZeroMQ monitor message (frame 1: a 16-bit event id, a 32-bit value).
    Read here rather than with ``zmq.utils.monitor``, which imports asyncio (~30 ms of every
    pingctl start)."""
    if len(frames) != 2 or len(frames[0]) != 6:
        return 0  # not an event: none of those pingctl acts on
    return struct.unpack_from("=H", frames[0])[0]


def connect_error(target: Target) -> str | None:
    """Why a plain TCP connection to the target fails right now, or None if it succeeds."""
    with socket.socket(addresses.family(target.address), socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        try:
            s.connect((target.address, target.port))
        except TimeoutError:
            return "connection timed out"
        except OSError as exc:
            return (exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))).lower()
    return None


def resolve_target(host: str, port: int) -> list[Target]:
    """Resolve an address or host name to the targets to try, in the resolver's order."""
    literal = host.strip("[]")
    try:
        infos = socket.getaddrinfo(literal, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise Unresolvable(host, exc.strerror or str(exc)) from None
    except UnicodeError:  # the IDNA codec: an empty label (a..b), or one over 63 characters
        raise Unresolvable(host, "not a valid host name (an empty label, or one over 63 characters)") from None
    seen: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        if str(sockaddr[0]) not in seen:
            seen.append(str(sockaddr[0]))
    return [Target(address=a, port=port) for a in seen]
