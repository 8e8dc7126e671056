"""Evicting idle peers from the ROUTER: knowing its connections, noting who sends requests,
and dropping a connection from outside libzmq. ``peers.PeerTable`` decides whom.

Knowing the connections: a socket monitor. libzmq reports each accepted connection with its
descriptor (ACCEPTED) and each lost one (DISCONNECTED), in order, from its I/O thread; reading
them costs a few µs per connection and nothing per request, and stays exact whatever the
descriptor limit (a scan of every descriptor number would cost O(limit) at each look). Its
hazard, measured with libzmq 4.3.5: the monitor sends each event blocking, so with no reader
connected, or a reader whose queue is full, libzmq's I/O thread stops, and every connection
with it. So the reader connects before the monitor starts, with no high-water mark, is read at
every check, and the monitor is stopped before the reader closes (``close``).

Noting requests: only while descriptors are short. Then the loop receives with ``receive``
(``copy=False``, so each frame can say which descriptor it came over: ``SRCFD``); otherwise it
keeps its plain ``recv_multipart``, the hot path as fast as a bare echo server. When noting
begins, each peer's last sign of life is read from the kernel (TCP_INFO's
``tcpi_last_data_recv``), so an old idle peer can be evicted at once and an active client is
not; from then on only requests count (libzmq's heartbeats would keep an idle peer alive).

Dropping a connection: ``shutdown(2)`` on its descriptor, once it is checked to still be the
connection accepted (same local port, same peer: a closed descriptor's number is reused).
libzmq then reads end-of-file and closes the connection itself, as if the peer had left.
pingd never closes a descriptor libzmq owns: that would race its reuse.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable, Hashable
from functools import partial
from typing import Final, TypeVar

import zmq

from pingd.serve.peers import Peer, PeerTable

_T = TypeVar("_T")

_EVENT: Final = struct.Struct("=HI")  # a v1 monitor event's first frame: event, value (the fd)
_ACCEPTED: Final = int(zmq.EVENT_ACCEPTED)
_NOBLOCK: Final = int(zmq.NOBLOCK)
_SRCFD: Final = int(zmq.SRCFD)
_INET: Final = (socket.AF_INET, socket.AF_INET6)
_TCP_INFO: Final = getattr(socket, "TCP_INFO", None)  # Linux
_U32: Final = struct.Struct("=I")  # struct tcp_info's fields are in host order
_LAST_DATA_RECV: Final = 52  # offset of tcpi_last_data_recv (ms) in struct tcp_info
_RTT: Final = 68  # offset of tcpi_rtt (µs)
_TCP_INFO_SIZE: Final = 104


class IdleEvictor:
    """The connections of one ROUTER socket listening on ``port``, and their eviction."""

    def __init__(self, sock: zmq.Socket, port: int) -> None:
        self._socket = sock
        self._port = port
        self.table = PeerTable()
        #: Descriptors requests came over since the last round (only while watching).
        self._heard: set[int] = set()
        #: Requests are being noted: descriptors are short, or were a moment ago.
        self.watching = False
        endpoint = f"inproc://pingd-peers-{id(self):x}"
        self._events = sock.context.socket(zmq.PAIR)
        self._events.linger = 0
        self._events.rcvhwm = 0  # never full: a full monitor queue stops libzmq's I/O thread
        try:
            self._events.connect(endpoint)  # before the monitor exists: inproc allows it
            sock.monitor(endpoint, zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED)
        except zmq.ZMQError:
            self._events.close(linger=0)
            raise

    @property
    def connections(self) -> int:
        """Connections accepted on the port and still open, as of the last ``round``."""
        return len(self.table)

    def receive(self, flags: int = 0) -> list[bytes]:
        """``recv_multipart`` that notes the descriptor each message came over."""
        frames = self._socket.recv_multipart(flags, copy=False)
        try:
            self._heard.add(frames[-1].get(_SRCFD))
        except zmq.ZMQError:
            pass  # the loop's own wake-up peer, over inproc: no descriptor
        return [frame.bytes for frame in frames]

    def round(self, now: float, watch: bool, wanted: int) -> int:
        """Bring the table up to date; while ``watch``, note requests and evict up to
        ``wanted`` idle peers. Returns how many were evicted."""
        self._read_events(now)
        if not watch:
            self.watching = False
            self._heard.clear()
            return 0
        table = self.table
        if not self.watching:
            table.reckon_from(now, self._silence)
            self.watching = True
        for fd in self._heard:
            table.heard(fd, now)
        self._heard.clear()
        evicted = 0
        for fd, peer in table.choose(now, wanted):
            table.closed(fd)  # its DISCONNECTED follows, or it was gone already
            evicted += _borrowing(fd, partial(self._drop, address=peer.address)) or 0
        return evicted

    def close(self) -> None:
        """Stop the monitor, then its reader (the other order can stop libzmq's I/O thread)."""
        try:
            self._socket.disable_monitor()
        except zmq.ZMQError:
            pass  # the socket is closed already, and its monitor with it
        self._events.close(linger=0)

    def _read_events(self, now: float) -> None:
        recv, table = self._events.recv_multipart, self.table
        while True:
            try:
                event = recv(_NOBLOCK)[0]
            except zmq.Again:
                return
            kind, fd = _EVENT.unpack_from(event)
            if kind == _ACCEPTED:
                peer = _borrowing(fd, self._accepted)
                if peer is not None:  # else it is closed already; its DISCONNECTED follows
                    table.accepted(fd, peer[0], now, peer[1])
            else:
                table.closed(fd)

    def _peer_of(self, s: socket.socket) -> Hashable | None:
        """The peer of ``s`` if it is a connection accepted on pingd's port, else None."""
        if s.family not in _INET or s.type != socket.SOCK_STREAM or s.getsockname()[1] != self._port:
            return None
        return s.getpeername()

    def _accepted(self, s: socket.socket) -> tuple[Hashable, float] | None:
        """The peer of a connection just accepted, and its round-trip time in seconds."""
        address = self._peer_of(s)
        if address is None:
            return None
        return address, (_tcp_info(s, _RTT) or 0) / 1e6

    def _silence(self, fd: int, peer: Peer) -> float | None:
        """Seconds since the peer on ``fd`` last sent anything, as the kernel knows it."""

        def read(s: socket.socket) -> float | None:
            if self._peer_of(s) != peer.address:
                return None
            ms = _tcp_info(s, _LAST_DATA_RECV)
            return None if ms is None else ms / 1000

        return _borrowing(fd, read)

    def _drop(self, s: socket.socket, address: Hashable) -> int:
        if self._peer_of(s) != address:
            return 0  # another connection has the descriptor now
        s.shutdown(socket.SHUT_RDWR)
        return 1


def _tcp_info(s: socket.socket, offset: int) -> int | None:
    """One field of the kernel's TCP_INFO for ``s`` (Linux), or None elsewhere."""
    if _TCP_INFO is None:
        return None
    return _U32.unpack_from(s.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, _TCP_INFO_SIZE), offset)[0]


def _borrowing(fd: int, use: Callable[[socket.socket], _T]) -> _T | None:
    """``use(s)`` on a socket object for libzmq's descriptor ``fd``, never closing it; None if
    the descriptor is no longer an open socket."""
    try:
        s = socket.socket(fileno=fd)
    except OSError:
        return None
    try:
        return use(s)
    except OSError:
        return None
    finally:
        s.detach()
