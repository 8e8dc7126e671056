"""Talking to one pingd: a DEALER socket used the zguide's Lazy Pirate way.

Every request has a reply timeout, after which the socket is closed with linger 0 (the request
dropped, never delivered late) and a fresh one opened; the request is lost, never re-sent (a ping
that got through would count twice). A reply to an earlier request is discarded.

A request waits one of two ways: a blocking receive bounded by the socket's own timeout
(RCVTIMEO), so that between a ping's two clock readings there is a send and a receive and nothing
else; or, for a first contact (``status``) and PEERS, a poll on the socket and on its connection
events (pyzmq's monitor socket): a refused port, a program that is not ZeroMQ or a refused key is
told at once, not after the timeout. Failures are typed (``pingctl.errors``); the CLI words them.

One loop for many clients (``ping --all``: ``pingctl.multiplex``) takes a ping in two halves:
``send_ping``, then ``take_reply`` or ``time_out`` from the loop's own poll; the same rules.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import zmq

from pingctl.connection import EVENTS, HANDSHAKE_FAILED, connect_error, monitor_event
from pingctl.errors import (
    ClientError,
    HandshakeFailed,
    Interrupted,
    KeyRefused,
    NoAnswer,
    NotPingd,
    Refused,
    TooOld,
    Unreachable,
    WrongVersion,
)
from pingctl.limits import MAX_TIMEOUT
from pingctl.model import PingResult, Target
from pingd.shared import addresses, protocol
from pingd.shared.keys import KeyPair
from pingd.shared.protocol import ErrorReply, PeersReply, Pong, ProtocolError, StatusReply, VersionMismatch

# What the client makes and returns, defined with the plain data in pingctl.model.
__all__ = ["MIN_WAIT", "PingClient", "PingResult", "Target", "first_to_answer", "monitor_event"]


_OURS = protocol.MAGIC + bytes((protocol.VERSION,))
_monitor_ids = itertools.count()
_NOBLOCK = int(zmq.NOBLOCK)  # a plain int: pyzmq's enum flags cost an enum operation per call
_PONG_SIZE = protocol.HEADER_SIZE + 8


class PingClient:
    def __init__(
        self, target: Target, timeout: float, context: zmq.Context | None = None, client_keys: KeyPair | None = None
    ) -> None:
        """``client_keys``: this client's CURVE key pair, needed when the target has a server key."""
        if not 0 < timeout <= MAX_TIMEOUT:  # also refuses nan; inf and 1e300 would overflow
            raise ValueError(f"a timeout is above 0 and at most {MAX_TIMEOUT:g} seconds, not {timeout}")
        self.target = target
        self.timeout = timeout
        self._timeout_ms = max(1, round(timeout * 1000))
        self._timeout_ns = self._timeout_ms * 1_000_000
        #: True from a request's send until its reply or its loss (a Ctrl-C may land between).
        self.in_flight = False
        self._context = context or zmq.Context.instance()
        self._client_keys = client_keys
        self._seq = 0
        self._socket: zmq.Socket | None = None
        self._connected = False  # TCP got through (known only on a watched request)

    def __enter__(self) -> PingClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None

    @property
    def last_seq(self) -> int:  # the sequence number of the latest request
        return self._seq

    # -- the requests ------------------------------------------------------------------------------

    def ping(self) -> PingResult:
        seq = self._next_seq()
        outcome = self.request(protocol.encode_ping(seq), seq)
        if outcome is None:
            return PingResult(seq)
        return _ping_result(seq, *outcome)

    def status(self, wait: float | None = None) -> protocol.Status:
        """The daemon's status, waiting ``wait`` seconds at most (default: the timeout). No
        answer is a ClientError that says why, as precisely as the connection's events allow
        (refused, not ZeroMQ, a refused key, or silence)."""
        reply = self._answer(protocol.encode_status_request, wait)
        if isinstance(reply, StatusReply):
            return reply.status
        if isinstance(reply, ErrorReply):
            raise Refused(self.target.display, reply.describe())
        raise NotPingd(self.target.display)

    def peers(self, wait: float | None = None) -> dict[str, Any]:
        """The daemon's peer table (``schema.PEERS_SCHEMA``), checked; ``TooOld`` from a pingd
        that answers PEERS as an unknown request (ERROR 3), a ClientError for anything else."""
        try:
            reply = self._answer(protocol.encode_peers_request, wait)
        except HandshakeFailed:  # after a first contact: libzmq dropped a reply over 64 KiB
            raise NotPingd(self.target.display) from None
        if isinstance(reply, PeersReply):
            return reply.table
        if isinstance(reply, ErrorReply) and reply.code == protocol.ErrorCode.NOT_A_REQUEST:
            raise TooOld(self.target.display, "PEERS")
        if isinstance(reply, ErrorReply):
            raise Refused(self.target.display, reply.describe())
        raise NotPingd(self.target.display)

    def _answer(self, encode: Callable[[int], bytes], wait: float | None) -> protocol.Reply:
        """The reply to a request that is not a PING, within ``wait`` (default: the timeout)."""
        seq = self._next_seq()
        wait = self.timeout if wait is None else min(wait, self.timeout)
        outcome = self._watched(encode(seq), seq, max(1, round(wait * 1e9)))
        if outcome is None:
            raise NoAnswer(self.target.display, self.timeout, connected=self._connected)
        return outcome[0]

    # -- one ping at a time, for a loop that serves many clients (``pingctl.multiplex``) -------

    def send_ping(self) -> tuple[zmq.Socket, int] | None:
        """Queue the next ping: the socket its reply comes on and the send's ``perf_counter_ns``,
        or None if it could not be queued (lost). ``take_reply`` or ``time_out`` ends it."""
        seq = self._next_seq()
        sock = self._socket or self._open()
        self.in_flight = True
        sent = time.perf_counter_ns()
        if not _try_send(sock, protocol.encode_ping(seq)):  # the queue to a daemon not there is full
            self._lost()
            return None
        return sock, sent

    def take_reply(self, data: bytes, rtt_ns: int) -> PingResult | None:
        """The ping's result from ``data``, a reply ``rtt_ns`` after the send; None for a late
        reply to an earlier request (the ping goes on waiting)."""
        reply = self._accept(data, self._seq)
        if reply is None:
            return None
        self.in_flight = False
        return _ping_result(self._seq, reply, rtt_ns)

    def time_out(self) -> PingResult:
        """No reply in time: the ping is lost and the socket reset, as ``ping`` does it."""
        self._lost()
        return PingResult(self._seq)

    # -- the one request path -------------------------------------------------------------------

    def request(self, frame: bytes, seq: int, *, watched: bool = False) -> tuple[protocol.Reply, int] | None:
        """Send ``frame`` (sequence ``seq``); its reply and the round trip in ns, or None after
        the timeout (the socket is then reset). ``watched``: follow the connection's events and
        fail at once on one that means no reply can come."""
        if watched:
            return self._watched(frame, seq, self._timeout_ns)
        try:
            sock = self._socket or self._open()
        except zmq.ContextTerminated:
            raise Interrupted from None
        clock = time.perf_counter_ns
        self.in_flight = True
        sent = clock()
        try:
            sock.send(frame, _NOBLOCK)
        except zmq.Again:  # the queue to a daemon that is not there is full
            self._lost()
            return None
        except zmq.ContextTerminated:
            self._lost()  # never went out
            raise Interrupted from None
        try:
            data = sock.recv()
        except zmq.Again:
            self._lost()
            return None
        except zmq.ContextTerminated:
            self.close()  # went out, no answer: still in flight, so lost
            raise Interrupted from None
        received = clock()
        reply: protocol.Reply
        if len(data) == _PONG_SIZE and data[:4] == protocol.PONG_PREFIX and data[4:12] == frame[4:12]:
            reply = Pong(seq, int.from_bytes(data[12:], "big"))  # the usual answer, read by its bytes
        else:
            decoded = self._accept(data, seq)
            if decoded is None:
                return self._rest_of_timeout(sock, seq, sent)
            reply = decoded
        self.in_flight = False
        return reply, received - sent

    def _accept(self, data: bytes, seq: int) -> protocol.Reply | None:
        """The reply for ``seq`` in ``data``; None for a reply to an earlier request (late, never
        counted), or a broken one that names another request. A frame that is no pingd reply
        is NotPingd; another version, WrongVersion."""
        try:
            reply = protocol.decode_reply(data)
        except VersionMismatch as exc:
            self._lost()
            raise WrongVersion(self.target.display, exc.version) from None
        except ProtocolError as exc:
            if data[:3] == _OURS and exc.seq not in (0, seq):  # a broken reply to another request
                return None
            self._lost()
            raise NotPingd(self.target.display) from None
        return reply if reply.seq == seq else None

    def _rest_of_timeout(self, sock: zmq.Socket, seq: int, sent: int) -> tuple[protocol.Reply, int] | None:
        """After a late reply: wait out the rest of the timeout for ours."""
        deadline = sent + self._timeout_ns
        try:
            while (remaining_ms := (deadline - time.perf_counter_ns()) // 1_000_000) > 0:
                sock.rcvtimeo = int(remaining_ms)
                try:
                    data = sock.recv()
                except zmq.Again:
                    break
                received = time.perf_counter_ns()
                reply = self._accept(data, seq)
                if reply is not None:
                    self.in_flight = False
                    return reply, received - sent
        except zmq.ContextTerminated:
            self.close()
            raise Interrupted from None
        finally:
            if self._socket is sock:
                sock.rcvtimeo = self._timeout_ms
        self._lost()
        return None

    def _watched(self, frame: bytes, seq: int, wait_ns: int) -> tuple[protocol.Reply, int] | None:
        """The request with the connection's events in view (a first contact): a new socket is
        watched from before it connects, so no early refusal goes unseen."""
        # A fresh inproc address each time: pyzmq's default names it after the socket's fd,
        # which a new socket may reuse before the old monitor has been torn down.
        address = f"inproc://pingctl-monitor-{next(_monitor_ids)}"
        if self._socket is None:
            sock = self._open(connect=False)
            monitor = sock.get_monitor_socket(EVENTS, addr=address)
            sock.connect(self.target.endpoint)
        else:
            sock = self._socket
            monitor = sock.get_monitor_socket(EVENTS, addr=address)
        self.in_flight = True
        try:
            sent = time.perf_counter_ns()
            unsent = not _try_send(sock, frame)
            poller = zmq.Poller()
            poller.register(sock, zmq.POLLIN)
            poller.register(monitor, zmq.POLLIN)
            deadline = sent + wait_ns
            while (remaining_ms := (deadline - time.perf_counter_ns()) // 1_000_000) > 0:
                ready = dict(poller.poll(int(remaining_ms)))
                if monitor in ready:
                    event = monitor_event(monitor.recv_multipart())
                    if event == zmq.EVENT_HANDSHAKE_SUCCEEDED and unsent:
                        unsent = not _try_send(sock, frame)
                    self._check_event(event)
                while sock in ready and sock.poll(0):
                    received = time.perf_counter_ns()
                    reply = self._accept(sock.recv(), seq)
                    if reply is not None:
                        self.in_flight = False
                        return reply, received - sent
        finally:
            if self._socket is sock:
                sock.disable_monitor()
            monitor.close(linger=0)
        self._lost()
        return None

    def _check_event(self, event: int) -> None:
        """Raise the failure a connection event means, if it means one."""
        where = self.target.display
        if event == zmq.EVENT_CONNECTED:
            self._connected = True
        elif event == zmq.EVENT_CONNECT_RETRIED:
            reason = connect_error(self.target)
            if reason:
                self._lost()
                raise Unreachable(where, reason)
        elif event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
            self._lost()
            raise KeyRefused(where)
        elif event & HANDSHAKE_FAILED:
            self._lost()
            raise HandshakeFailed(where, encrypted=self.target.server_key is not None)

    # -- the socket -----------------------------------------------------------------------------

    def _open(self, connect: bool = True) -> zmq.Socket:
        """A fresh DEALER, connected to the target unless asked not to yet."""
        sock = self._context.socket(zmq.DEALER)
        sock.linger = 0
        sock.ipv6 = addresses.is_ipv6(self.target.address)
        sock.maxmsgsize = protocol.MAX_REPLY_SIZE
        sock.reconnect_ivl = 100
        sock.reconnect_ivl_max = 1000
        sock.rcvtimeo = self._timeout_ms  # the per-request timeout, kept by libzmq
        if self.target.server_key:
            pair = self._client_keys
            if pair is None:
                raise ValueError("an encrypted target needs this client's key pair (client_keys=)")
            sock.curve_serverkey = self.target.server_key.encode()
            sock.curve_publickey = pair.public.encode()
            sock.curve_secretkey = pair.secret.encode()
        self._socket = sock
        self._connected = False
        if connect:
            sock.connect(self.target.endpoint)
        return sock

    def _lost(self) -> None:
        """The request is lost: close the socket (its queue with it) for a fresh one next time."""
        self.in_flight = False
        self.close()

    def _next_seq(self) -> int:
        """1, 2, … 2**64-1, then 1 again: never 0, which the daemon's errors carry when they
        cannot read a request's sequence number."""
        self._seq = self._seq % protocol.MAX_SEQ + 1
        return self._seq


def _ping_result(seq: int, reply: protocol.Reply, rtt_ns: int) -> PingResult:
    """What a reply to ping ``seq`` is: a pong, or an answer that is none (a lost ping)."""
    if isinstance(reply, Pong):
        return PingResult(seq, rtt_ms=rtt_ns / 1e6, count=reply.count)
    if isinstance(reply, ErrorReply):
        return PingResult(seq, rtt_ms=rtt_ns / 1e6, error=reply.describe())
    return PingResult(seq, rtt_ms=rtt_ns / 1e6, error="a status reply to a ping")


#: With a shared deadline, the least each address still gets to answer (a fleet's last
#: contacts start a little after its first).
MIN_WAIT = 0.2


def first_to_answer(
    targets: list[Target],
    timeout: float,
    client_keys: KeyPair | None = None,
    context: zmq.Context | None = None,
    deadline: float | None = None,
) -> tuple[PingClient, protocol.Status]:
    """A client for the first of ``targets`` (a name's addresses, or those a daemon announced)
    that answers a status request, and that status; the last failure if none does. Each
    address waits ``timeout``, or, given a monotonic ``deadline`` (a fleet's), until then
    (but at least ``MIN_WAIT``), so a daemon with several silent addresses costs one wait."""
    failure: ClientError | None = None
    for target in targets:
        if failure is not None and deadline is not None and time.monotonic() >= deadline:
            break
        client = PingClient(target, timeout, context=context, client_keys=client_keys)
        wait = None if deadline is None else max(deadline - time.monotonic(), min(timeout, MIN_WAIT))
        try:
            return client, client.status(wait)
        except ClientError as exc:
            client.close()
            failure = exc
    if failure is None:
        raise ValueError("no address to try")
    raise failure


def _try_send(sock: zmq.Socket, frame: bytes) -> bool:
    """Queue ``frame``; False if the socket has no connection to queue it on right now."""
    try:
        sock.send(frame, _NOBLOCK)
    except zmq.Again:
        return False
    return True
