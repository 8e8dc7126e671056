"""The mesh's thread: probes each peer on the plan's schedule over sockets of its own, and keeps
what each probe said in the table.

It never touches the serving loop: its own ZeroMQ context (so its own I/O thread), a DEALER for
each peer of the round in progress (at most the cap's: no socket, connection or reconnecting for
a peer the round does not probe, however many are found), and its own poll, woken by a socket
pair when the daemon stops. An internal error costs a second of probing, never the mesh. A PROBE is answered by
the peer's loop without counting (docs/protocol.md, PROBE): the mesh moves no count and costs
no fdatasync. A pingd too old to know PROBE answers ERROR 3, which is a round trip through its
loop all the same, and counted as an answer.

A peer's socket has ``ZMQ_IMMEDIATE``: while no connection is up (refused, unreachable, a CURVE
handshake refused) a probe cannot be queued and is lost at once, with that said, rather than
sent later and timed from now. A peer whose every probe has failed for ``FORGET_AFTER`` is
dropped until it answers mDNS again (``LinkPeers.forget``).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import math
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import zmq

from pingd.mesh.domain import DomainPeers
from pingd.mesh.peers import ASK_EVERY, LinkPeers
from pingd.mesh.plan import Plan
from pingd.mesh.table import NO_MESH, Peer, PeerTable
from pingd.shared import protocol
from pingd.shared.addresses import endpoint

log = logging.getLogger("pingd")

#: The longest a probe waits for its reply, in seconds (shorter when the interval is).
TIMEOUT: Final = 1.0
#: A peer whose probes have all failed for this long is dropped until mDNS hears it again.
FORGET_AFTER: Final = 60.0
#: How often the list of peers is read from the querier's cache: half an interval, between 1 and
#: 5 s (reading 1,000 forged peers' records costs ~50 ms; the querier asks every 10 s anyway).
RELIST_RANGE: Final = (1.0, 5.0)
#: The most peers known at once: a flood of forged records costs the mesh this many at most.
MAX_KNOWN: Final = 1024
#: Seconds a fresh socket's connection may take to come up before a probe on it counts as lost.
CONNECT_GRACE: Final = 0.5
#: A peer that cannot be reached is tried again after 1 s, backing off to 30 s (libzmq's own).
RECONNECT_MS: Final = (1000, 30_000)
_NOBLOCK: Final = int(zmq.NOBLOCK)
#: The longest ``describe()``: STATUS_REPLY's ``mesh`` (docs/protocol.md gives the bound).
STATE_LIMIT: Final = 200


@dataclass(frozen=True, slots=True)
class MeshSettings:
    interval: float  # seconds between two probes of one peer
    cap: int  # the most peers probed in a round
    node_id: str  # this daemon's: never probed
    interfaces: tuple[str, ...]  # pingd's mDNS interfaces: where peers are looked for
    keys: tuple[str, str] | None = None  # (public, secret) Z85: this daemon's CURVE pair, if it has one
    dns_domain: str | None = None  # where it registers: peers registered there are probed too
    dns_server: tuple[str, int] | None = None  # the server it registers with (None: the resolver's)

    @property
    def window(self) -> float:
        """The span of the table's recent figures: three rounds."""
        return 3 * self.interval


class _Link:
    """One peer's socket and the probe in flight on it."""

    __slots__ = ("created", "flying", "peer", "retried", "sock")

    def __init__(self, peer: Peer, sock: zmq.Socket, created: float) -> None:
        self.peer = peer
        self.sock = sock
        self.created = created
        self.flying: tuple[int, int, float] | None = None  # (seq, sent ns, deadline)
        self.retried = False  # a probe due before the fresh connection was up, put off once


class Mesh:
    """Probes peers from a thread of its own: ``start``, ``document`` from any thread, ``close``."""

    def __init__(
        self,
        settings: MeshSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        seed: int | None = None,
        finder: LinkPeers | None = None,  # a stand-in in tests: whom to probe
    ) -> None:
        self.settings = settings
        self.table = PeerTable()
        self._clock = clock
        self._rng = random.Random(seed)
        self._plan = Plan(settings.interval, settings.cap, self._rng)
        every = max(1.0, min(ASK_EVERY, settings.interval))
        self._finder = finder or LinkPeers(settings.node_id, settings.interfaces, every)
        self._domain = (
            None
            if settings.dns_domain is None
            else DomainPeers(settings.node_id, settings.dns_domain, settings.dns_server)
        )
        self._timeout = min(TIMEOUT, settings.interval)
        self._relist_every = min(max(settings.interval / 2, RELIST_RANGE[0]), RELIST_RANGE[1])
        self._context: zmq.Context | None = None
        self._known: dict[str, Peer] = {}  # every peer found now (at most MAX_KNOWN)
        self._links: dict[str, _Link] = {}  # a socket for each peer of the round in progress
        self._by_socket: dict[zmq.Socket, _Link] = {}
        self._retries: list[tuple[float, str]] = []  # (when, peer key): probes put off once
        self._silent_since: dict[str, float] = {}  # peer key → the first of its failures in a row
        self._rounds = -1
        self._seqs = itertools.count(1)
        self._wake_r, self._wake_w = socket.socketpair()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pingd-mesh", daemon=True)
        self.state = "starting"

    def start(self) -> None:
        self._thread.start()

    def describe(self) -> str:
        """For STATUS: what the mesh does now, in at most ``STATE_LIMIT`` ASCII characters (a
        library's error text is quoted in it: STATUS_REPLY's bound counts on the limit)."""
        text = self.state.encode("ascii", "backslashreplace").decode()
        return text if len(text) <= STATE_LIMIT else text[: STATE_LIMIT - 3] + "..."

    def document(self, now: float | None = None) -> dict[str, Any]:
        """The PEERS_REPLY table, from any thread."""
        s = self.settings
        return self.table.document(self._clock() if now is None else now, s.interval, s.window)

    def close(self) -> None:
        """Stop probing and close every socket (waits for the thread, a second at most)."""
        self._stopping.set()
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
        elif self._thread.ident is None:  # never started: what the thread would have closed
            self._wake_r.close()
        self._wake_w.close()

    # -- the mesh's thread -----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._context = zmq.Context(io_threads=1)
            self._finder.open(self._clock())
            if self._domain is not None:
                self._domain.start()
        except (OSError, ValueError, zmq.ZMQError) as exc:
            self.state = f"off (cannot look for peers: {exc})"
            log.error("mesh: cannot look for peers (%s); probing nobody", exc)
            self._end()
            return
        log.info("mesh: probing peers every %g s (at most %d a round)", self.settings.interval, self.settings.cap)
        try:
            while not self._stopping.is_set():
                try:
                    self._turn_until_stopped()
                except Exception as exc:  # a bug must cost a second of probing, never the mesh
                    self.state = f"restarting after an internal error: {type(exc).__name__}"
                    log.error("mesh: internal error, starting again in 1 s: %s: %s", type(exc).__name__, exc)
                    self._drop_links()
                    self._stopping.wait(1.0)
        finally:
            self._end()

    def _turn_until_stopped(self) -> None:
        poller = zmq.Poller()
        wake = self._wake_r.fileno()
        poller.register(wake, zmq.POLLIN)
        self._poller = poller
        relisted = -math.inf
        while not self._stopping.is_set():
            now = self._clock()
            self._finder.ask(now)
            if now - relisted >= self._relist_every:
                self._relist()
                relisted = now
            due = self._plan.due(now, list(self._known))
            if self._plan.rounds != self._rounds:  # a round began: sockets for its peers only
                self._rounds = self._plan.rounds
                self._follow(self._plan.chosen, now)
            due += self._retried(now)
            for key in due:
                link = self._links.get(key)
                if link is not None:  # else gone since the round began
                    self._send(link, now)
            self._expire(now)
            wait = max(0.0, min(self._deadlines(relisted)) - self._clock())
            for sock, _ in poller.poll(max(1, round(wait * 1000))):
                if sock == wake:
                    return
                self._receive(sock)

    def _deadlines(self, relisted: float) -> list[float]:
        """When the loop must next look: a question, a relist, a probe, a timeout, a retry."""
        out = [self._finder.next_question, relisted + self._relist_every]
        out += [link.flying[2] for link in self._links.values() if link.flying is not None]
        out += [when for when, _ in self._retries]
        planned = self._plan.next_time()
        return out if planned is None else [planned, *out]

    def _relist(self) -> None:
        """The peers found now, both ways (the link's first): at most ``MAX_KNOWN``, chosen by a
        hash salted with this daemon's id, so that a flood of names cannot choose which stay."""
        found = self._finder.peers() + (self._domain.peers() if self._domain is not None else [])
        peers: dict[str, Peer] = {}
        for peer in found:
            peers.setdefault(peer.key, peer)
        if len(peers) > MAX_KNOWN:
            salt = self.settings.node_id
            kept = sorted(peers, key=lambda key: hashlib.blake2b(f"{salt}/{key}".encode(), digest_size=8).digest())
            peers = {key: peers[key] for key in kept[:MAX_KNOWN]}
        self._known = peers
        self._silent_since = {key: at for key, at in self._silent_since.items() if key in peers}
        for key, link in list(self._links.items()):
            if peers.get(key) != link.peer:  # gone, or moved: a new socket at its next round
                self._close(link)
        self.table.know(peers.values())
        probed = min(len(peers), self.settings.cap)
        self.state = f"probing {probed} of {len(peers)} peers every {self._plan.length(probed):g} s"

    def _follow(self, chosen: list[str], now: float) -> None:
        """Sockets for the peers of the round that began: kept for those still chosen, opened for
        the new, closed for the rest (no socket, connection or reconnecting for a peer the round
        does not probe: a daemon's sockets stay the cap's, however many peers are found)."""
        wanted = {key for key in chosen if key in self._known}
        for key, link in list(self._links.items()):
            if key not in wanted and link.flying is None:
                self._close(link)
        for key in wanted - self._links.keys():
            link = self._links[key] = _Link(self._known[key], self._connect(self._known[key]), now)
            self._by_socket[link.sock] = link
            self._poller.register(link.sock, zmq.POLLIN)

    def _close(self, link: _Link) -> None:
        self._poller.unregister(link.sock)
        link.sock.close(linger=0)
        self._links.pop(link.peer.key, None)
        self._by_socket.pop(link.sock, None)

    def _drop_links(self) -> None:
        for link in list(self._links.values()):
            link.sock.close(linger=0)
        self._links.clear()
        self._by_socket.clear()
        self._retries.clear()
        self._rounds = -1
        self._plan.round_ends = None

    def _connect(self, peer: Peer) -> zmq.Socket:
        assert self._context is not None
        sock = self._context.socket(zmq.DEALER)
        sock.linger = 0
        sock.ipv6 = True
        sock.immediate = True
        sock.sndhwm = sock.rcvhwm = 16
        sock.reconnect_ivl, sock.reconnect_ivl_max = RECONNECT_MS  # a dead peer: once a second, then less
        if peer.curve_key:
            public, secret = self.settings.keys or zmq.curve_keypair()
            sock.curve_serverkey = peer.curve_key.encode() if isinstance(peer.curve_key, str) else peer.curve_key
            sock.curve_publickey = public.encode() if isinstance(public, str) else public
            sock.curve_secretkey = secret.encode() if isinstance(secret, str) else secret
        sock.connect(endpoint(peer.address, peer.port))
        return sock

    def _send(self, link: _Link, now: float) -> None:
        if link.flying is not None:
            return  # the last probe still waits: this round's counts when it ends
        seq = next(self._seqs)
        try:
            link.sock.send(protocol.encode_probe(seq), _NOBLOCK)
        except zmq.Again:
            if not link.retried and now - link.created < CONNECT_GRACE:  # its connection is still coming up
                link.retried = True
                self._retries.append((now + CONNECT_GRACE / 4, link.peer.key))
                return
            self._failed(link, now, "no connection (refused, unreachable, or its CURVE handshake failed)")
            return
        link.flying = (seq, time.perf_counter_ns(), now + self._timeout)

    def _retried(self, now: float) -> list[str]:
        due = [key for when, key in self._retries if when <= now]
        self._retries = [(when, key) for when, key in self._retries if when > now]
        return due

    def _receive(self, sock: zmq.Socket) -> None:
        received = time.perf_counter_ns()
        link = self._by_socket.get(sock)
        try:
            frame = sock.recv(_NOBLOCK)
        except zmq.Again:
            return
        if link is None or link.flying is None:
            return
        seq, sent, _ = link.flying
        try:
            reply = protocol.decode_reply(frame)
        except protocol.ProtocolError:
            link.flying = None
            self._failed(link, self._clock(), "its reply is no pingd's")
            return
        if reply.seq != seq:
            return  # a reply to a probe already counted lost
        link.flying = None
        with self.table.lock:
            record = self.table.records.get(link.peer.key)
            if record is not None:
                record.answered(self._clock(), (received - sent) / 1e9)
        self._silent_since.pop(link.peer.key, None)

    def _expire(self, now: float) -> None:
        for link in list(self._links.values()):
            if link.flying is not None and now >= link.flying[2]:
                link.flying = None
                self._failed(link, now, f"no reply within {self._timeout:g} s")

    def _failed(self, link: _Link, now: float, why: str) -> None:
        key = link.peer.key
        with self.table.lock:
            record = self.table.records.get(key)
            if record is not None:
                record.failed(now, why)
        since = self._silent_since.setdefault(key, now)
        if now - since >= max(FORGET_AFTER, 3 * self.settings.interval):
            log.info(
                "mesh: %r has not answered for %.0f s; not probed until it answers mDNS", link.peer.name, now - since
            )
            self._finder.forget(link.peer)
            del self._silent_since[key]

    def _end(self) -> None:
        for link in self._links.values():
            link.sock.close(linger=0)
        self._links.clear()
        self._by_socket.clear()
        self._finder.close()
        if self._domain is not None:
            self._domain.close()
        if self._context is not None:
            self._context.term()
        self._wake_r.close()


def table_of(mesh: Mesh | None) -> Callable[[], dict[str, Any]]:
    """What a PEERS request is answered with: the mesh's table, or a daemon's without one."""
    return mesh.document if mesh is not None else lambda: dict(NO_MESH)
