"""Talking to one pingd: a DEALER socket used the zguide's Lazy Pirate way.

Every request has a reply timeout. On timeout the socket is closed with linger 0 (so the
unanswered request is dropped, never delivered late) and a fresh one is opened; the request
is reported lost and never re-sent, because a re-sent ping that had in fact got through
would be counted twice. Replies carry the request's sequence number; a reply to an earlier
request is discarded, never taken for the current one.
"""

from __future__ import annotations

import errno
import itertools
import socket
import time
from dataclasses import dataclass

import zmq

from pingctl.errors import PingctlError
from pingctl.limits import MAX_TIMEOUT
from pingd import protocol
from pingd.protocol import ErrorReply, Pong, ProtocolError, StatusReply, VersionMismatch


@dataclass(frozen=True, slots=True)
class Target:
    """Where a daemon is: a concrete address and port, plus what discovery said of it."""

    address: str
    port: int
    host: str = ""  # what the user typed, if it was a name
    name: str | None = None
    node_id: str | None = None
    server_key: str | None = None  # the daemon's CURVE public key: connect encrypted

    @property
    def endpoint(self) -> str:
        return protocol.endpoint(self.address, self.port)

    @property
    def display(self) -> str:
        return protocol.host_port(self.address, self.port)


def resolve_target(host: str, port: int) -> list[Target]:
    """Resolve an address or host name to the targets to try, in the resolver's order."""
    if not 1 <= port <= 65535:
        raise PingctlError(f"port {port} is out of range (1-65535)")
    literal = host.strip("[]")
    try:
        infos = socket.getaddrinfo(literal, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise PingctlError(f"cannot resolve '{host}': {exc.strerror}; check --server-ip") from None
    seen: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        if str(sockaddr[0]) not in seen:
            seen.append(str(sockaddr[0]))
    return [Target(address=a, port=port, host=host if a != literal else "") for a in seen]


@dataclass(slots=True)  # not frozen: one is made per ping, and frozen ones are slower to make
class PingResult:
    """One ping's fate: a pong (rtt_ms and count), an error reply, or nothing (lost)."""

    seq: int
    rtt_ms: float | None = None
    count: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.rtt_ms is not None and self.error is None


_MONITOR_EVENTS = (
    zmq.EVENT_CONNECTED
    | zmq.EVENT_CONNECT_RETRIED
    | zmq.EVENT_DISCONNECTED
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
)
_HANDSHAKE_FAILED = zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_DISCONNECTED


_monitor_ids = itertools.count()
_NOBLOCK = int(zmq.NOBLOCK)  # a plain int: pyzmq's enum flags cost an enum operation per call
_PONG_PREFIX = protocol.MAGIC + bytes((protocol.VERSION, protocol.MessageType.PONG))
_PONG_SIZE = protocol.HEADER_SIZE + 8


class PingClient:
    def __init__(self, target: Target, timeout: float, context: zmq.Context | None = None) -> None:
        if not 0 < timeout <= MAX_TIMEOUT:  # also refuses nan; inf and 1e300 would overflow
            raise PingctlError(f"--timeout must be above 0 and at most {MAX_TIMEOUT:g} seconds")
        self.target = target
        self.timeout = timeout
        self._timeout_ms = max(1, round(timeout * 1000))
        self._timeout_ns = self._timeout_ms * 1_000_000
        #: True from a request's send until its reply or its loss (a Ctrl-C may land between).
        self.in_flight = False
        self._context = context or zmq.Context.instance()
        self._seq = 0
        self._socket: zmq.Socket | None = None
        self.resets = 0

    def __enter__(self) -> PingClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open(self, monitor: str | None = None) -> zmq.Socket:
        """A fresh DEALER connected to the target (watched from before it connects, if asked)."""
        sock = self._context.socket(zmq.DEALER)
        sock.linger = 0
        sock.ipv6 = ":" in self.target.address
        sock.maxmsgsize = protocol.MAX_REPLY_SIZE
        sock.reconnect_ivl = 100
        sock.reconnect_ivl_max = 1000
        sock.rcvtimeo = self._timeout_ms  # the per-request timeout, kept by libzmq
        if self.target.server_key:
            from pingctl.trust import client_keys

            pair = client_keys()
            sock.curve_serverkey = self.target.server_key.encode()
            sock.curve_publickey = pair.public.encode()
            sock.curve_secretkey = pair.secret.encode()
        if monitor is not None:
            sock.monitor(monitor, _MONITOR_EVENTS)
        sock.connect(self.target.endpoint)
        self._socket = sock
        return sock

    def _reset(self) -> None:
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None
            self.resets += 1

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None

    @property
    def last_seq(self) -> int:
        """The sequence number of the latest request."""
        return self._seq

    def _next_seq(self) -> int:
        """1, 2, … 2**64-1, then 1 again: never 0, which the daemon's errors carry when they
        cannot read a request's sequence number."""
        self._seq = self._seq % protocol.MAX_SEQ + 1
        return self._seq

    def _exchange(self, frame: bytes, seq: int) -> tuple[protocol.Reply, int] | None:
        """Send one request; return (reply, rtt in ns), or None after the timeout (socket reset).

        Between the two clock readings there is a send and a blocking receive and nothing
        else: the socket's own receive timeout (RCVTIMEO) bounds the wait, so no poll, no
        deadline arithmetic and no decoding is timed. Only a reply to an earlier, lost
        request (rare) takes the slow path, which waits out the rest of the timeout.
        """
        sock = self._socket or self._open()
        clock = time.perf_counter_ns
        self.in_flight = True
        sent = clock()
        try:
            sock.send(frame, _NOBLOCK)
        except zmq.Again:  # the queue to a daemon that is not there is full
            self._lost()
            return None
        try:
            data = sock.recv()
        except zmq.Again:
            self._lost()
            return None
        received = clock()
        reply: protocol.Reply
        if len(data) == _PONG_SIZE and data[:4] == _PONG_PREFIX and data[4:12] == frame[4:12]:
            reply = Pong(seq, int.from_bytes(data[12:], "big"))  # the usual answer
        else:
            decoded = self._decode(data)
            if decoded is None or decoded.seq != seq:
                return self._late(sock, seq, sent)
            reply = decoded
        self.in_flight = False
        return reply, received - sent

    def _late(self, sock: zmq.Socket, seq: int, sent: int) -> tuple[protocol.Reply, int] | None:
        """Skip replies to earlier, already-lost requests (never counted) until ours or the timeout."""
        deadline = sent + self._timeout_ns
        try:
            while (remaining_ms := (deadline - time.perf_counter_ns()) // 1_000_000) > 0:
                sock.rcvtimeo = int(remaining_ms)
                try:
                    data = sock.recv()
                except zmq.Again:
                    break
                received = time.perf_counter_ns()
                reply = self._decode(data)
                if reply is not None and reply.seq == seq:
                    self.in_flight = False
                    return reply, received - sent
        finally:
            if self._socket is sock:
                sock.rcvtimeo = self._timeout_ms
        self._lost()
        return None

    def _lost(self) -> None:
        self.in_flight = False
        self._reset()
        return None

    def _decode(self, data: bytes) -> protocol.Reply | None:
        """A reply, or None for a frame that is not one (ignored like a late reply)."""
        try:
            return protocol.decode_reply(data)
        except VersionMismatch as exc:
            raise PingctlError(
                f"the daemon at {self.target.display} speaks pingd protocol {exc.version}, "
                f"this pingctl speaks {protocol.VERSION}; install matching versions"
            ) from None
        except ProtocolError:
            return None

    def ping(self) -> PingResult:
        seq = self._next_seq()
        outcome = self._exchange(protocol.encode_ping(seq), seq)
        if outcome is None:
            return PingResult(seq)
        reply, rtt_ns = outcome
        if isinstance(reply, Pong):
            return PingResult(seq, rtt_ms=rtt_ns / 1e6, count=reply.count)
        if isinstance(reply, ErrorReply):
            return PingResult(seq, rtt_ms=rtt_ns / 1e6, error=reply.describe())
        return PingResult(seq, rtt_ms=rtt_ns / 1e6, error="unexpected reply type to a ping")

    def status(self) -> protocol.Status:
        """The daemon's status; on no answer, a PingctlError that says why, as precisely as
        the connection's events allow (refused, not ZeroMQ, or silent)."""
        seq = self._next_seq()
        frame = protocol.encode_status_request(seq)
        address = f"inproc://pingctl-monitor-{next(_monitor_ids)}"
        if self._socket is None:
            sock = self._open(monitor=address)  # watched from before it connects
        else:
            sock = self._socket
            sock.monitor(address, _MONITOR_EVENTS)
        monitor = self._context.socket(zmq.PAIR)
        monitor.connect(address)
        try:
            reply = self._probe(sock, monitor, frame, seq)
        finally:
            if self._socket is not None:
                self._socket.disable_monitor()
            monitor.close(linger=0)
        if isinstance(reply, StatusReply):
            return reply.status
        if isinstance(reply, ErrorReply):
            raise PingctlError(f"{self.target.display} refused the status request: {reply.describe()}")
        raise PingctlError(f"{self.target.display} answered a status request with a pong")

    def _probe(self, sock: zmq.Socket, monitor: zmq.Socket, frame: bytes, seq: int) -> protocol.Reply:
        from zmq.utils.monitor import parse_monitor_message

        deadline = time.monotonic() + self.timeout
        unsent = not _try_send(sock, frame)
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(monitor, zmq.POLLIN)
        connected = False
        while (remaining := deadline - time.monotonic()) > 0:
            events = dict(poller.poll(max(1, int(remaining * 1000))))
            if monitor in events:
                event = parse_monitor_message(monitor.recv_multipart())["event"]
                if event == zmq.EVENT_CONNECTED:
                    connected = True
                elif event == zmq.EVENT_HANDSHAKE_SUCCEEDED and unsent:
                    unsent = not _try_send(sock, frame)
                elif event == zmq.EVENT_CONNECT_RETRIED:
                    reason = _connect_error(self.target)
                    if reason:
                        self._reset()
                        raise PingctlError(
                            f"cannot reach pingd at {self.target.display}: {reason}; "
                            "is pingd running there (systemctl status pingd)?"
                        )
                elif event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                    self._reset()
                    raise PingctlError(
                        f"the pingd at {self.target.display} refused this client's key: ask its "
                        "operator to add it to the daemon's --allow-clients (pingctl keys show)"
                    )
                elif event & _HANDSHAKE_FAILED:
                    self._reset()
                    raise PingctlError(self._handshake_failure())
            if sock in events:
                reply = self._waiting_reply(sock, seq)
                if reply is not None:
                    return reply
        self._reset()
        what = "connected, but got no pingd reply" if connected else "no connection"
        raise PingctlError(
            f"no answer from pingd at {self.target.display} within {self.timeout:g} s ({what}); "
            "check the address and port, or raise --timeout"
        )

    def _handshake_failure(self) -> str:
        where = self.target.display
        if self.target.server_key:
            return (
                f"the encrypted handshake with {where} failed: its key is not the --server-key "
                f"given, or it is not an encrypted pingd"
            )
        return (
            f"the ZeroMQ handshake with {where} failed: it does not speak ZeroMQ (is that port "
            "really a pingd?), or it is a pingd that requires encryption (give --server-key)"
        )

    def _waiting_reply(self, sock: zmq.Socket, seq: int) -> protocol.Reply | None:
        """Read replies waiting on ``sock`` until the one for ``seq`` (or none is left)."""
        while sock.poll(0):
            reply = self._decode(sock.recv())
            if reply is None:
                raise PingctlError(f"{self.target.display} answered, but not as a pingd; is that port really a pingd?")
            if reply.seq == seq:
                return reply
        return None


def _try_send(sock: zmq.Socket, frame: bytes) -> bool:
    """Queue ``frame``; False if the socket has no connection to queue it on right now."""
    try:
        sock.send(frame, zmq.NOBLOCK)
    except zmq.Again:
        return False
    return True


def _connect_error(target: Target) -> str | None:
    """Why a plain TCP connection to the target fails right now, or None if it succeeds."""
    family = socket.AF_INET6 if ":" in target.address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        try:
            s.connect((target.address, target.port))
        except TimeoutError:
            return "connection timed out"
        except OSError as exc:
            return (exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))).lower()
    return None
