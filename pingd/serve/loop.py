"""The request loop: receive → count → persist → answer, on one thread.

One thread owns the socket, the actor and the store, so the actor sees one message at a time
without locks. Each turn takes a request (with ``--sync always``, every waiting request up to
``MAX_BATCH``), lets the actor count (``actor.ping()``), persists the count
(``Persistence.commit``: one pwrite; with ``--sync always`` one fdatasync for the whole batch,
group commit), and only then sends the replies. Every byte of a request and a reply is read
and written by ``pingd.shared.protocol``: ``is_ping`` and ``pong_for`` on the hot path,
``decode_request`` and ``encode_reply`` for everything else.

The hot path costs what a bare echo server's does, plus the counting: one plain blocking
``recv_multipart`` (bounded by ``TICK_MS``, a socket option that costs nothing per call), no
poll, and a PONG built from the PING's own sequence bytes. Two things can change that, both
deliberately: ``--sync always`` asks the socket whether more is waiting (group commit), and
while descriptors run short the daemon hands the loop a receive that notes each request's
peer (``watch_peers``; descriptors.py and evictor.py say why).

Anything another thread wants done here — a stop, a reload, a rename from the mDNS library —
is queued with ``call_soon``; ``wake`` unblocks the receive with an empty message sent over
inproc to the serving socket itself, so the loop never polls two sources.

The main loop is ``run``, modelled on uvicorn's ``Server.main_loop``: it turns until ``stop``,
and calls back ``on_tick(now)`` whenever the time it last returned has come (the daemon's
watchdog, descriptor, memory and status-line timers). While requests come, the receive waits at
most ``TICK_MS``, so those timers run within ``TICK_MS`` of their time and the receive timeout
is never touched on the hot path; once a receive finds nothing, the next one waits exactly until
the earliest deadline (the next tick, a pending sync or storage retry), as chronyd sleeps until
its next timer: an idle pingd wakes only when something is due.
"""

from __future__ import annotations

import itertools
import logging
import math
import queue
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Final, cast

import zmq

from pingd.serve.counter import CounterActor
from pingd.serve.histogram import Histogram
from pingd.serve.persistence import Persistence
from pingd.shared import protocol
from pingd.shared.protocol import (
    ErrorCode,
    ErrorReply,
    PeersRequest,
    Ping,
    ProbeRequest,
    ProtocolError,
    StatusReply,
    StatusRequest,
)
from pingd.shared.schema import NO_MESH_TABLE

log = logging.getLogger("pingd")

__all__ = ["BATCH_BUCKETS", "MAX_BATCH", "MAX_SLEEP_MS", "TICK_MS", "Loop", "Receive", "sleep_ms"]

#: The most requests one turn answers after one commit (``--sync always``).
MAX_BATCH: Final = 256
#: The buckets of ``Loop.batches``: requests answered after one group commit.
BATCH_BUCKETS: Final = (1, 2, 4, 8, 16, 32, 64, 128, MAX_BATCH)
#: While requests come, the longest the receive waits: a deadline is met this precisely then.
TICK_MS: Final = 100
#: The longest a quiet receive waits, whatever the deadlines say.
MAX_SLEEP_MS: Final = 60_000

#: How the loop receives a message: ``zmq.Socket.recv_multipart``, or a stand-in that also notes
#: where each request came from. Called with no argument (blocking, up to ``TICK_MS``) or with
#: ``zmq.NOBLOCK``; returns the frames, routing id first.
Receive = Callable[..., list[bytes]]

# Plain ints: pyzmq's enum flags cost an enum operation per call on the hot path.
_NOBLOCK: Final = int(zmq.NOBLOCK)
_MORE: Final = int(zmq.SNDMORE | zmq.NOBLOCK)
_POLLIN: Final = int(zmq.POLLIN)
_EVENTS: Final = int(zmq.EVENTS)

#: A reply to send, in the order of the requests it answers: (peer, REQ envelope, the PING
#: frame, the count after it, None) for a PONG; (peer, REQ envelope, None, 0, what answers it)
#: for anything else, where a STATUS request stands for its reply until the batch is committed.
_Reply = tuple[bytes, bool, bytes | None, int, StatusRequest | ProbeRequest | PeersRequest | ErrorReply | None]


class Loop:
    """Serves one ROUTER socket: ``run`` until ``stop``; ``call_soon`` from any thread."""

    def __init__(
        self,
        sock: zmq.Socket,
        actor: CounterActor,
        persistence: Persistence,
        *,
        announced: Callable[[], str],
        peer_table: Callable[[], dict[str, Any]] = lambda: dict(NO_MESH_TABLE),
        mesh: Callable[[], str | None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.actor = actor
        self.persistence = persistence
        self._socket = sock
        self._context = sock.context
        self._clock = clock
        self._announced = announced  # STATUS's "announced": how the daemon makes itself known
        self._peer_table = peer_table  # PEERS' answer: the mesh's table (pingd.mesh)
        self._mesh = mesh  # STATUS's "mesh": what the daemon's own probing does now
        # With --sync always, drain what is waiting so one fdatasync serves it all.
        self._drain = persistence.always
        # The wake-up peers' routing ids start with this; their messages are not requests.
        # Random per loop, so that no client can choose one (a client that did would have no
        # STATUS replies). Each wake-up has an id of its own: a ROUTER ignores a peer that
        # connects with the id of one it still has, so a wake-up right behind another, whose
        # connection was still closing, was lost (and the loop woke at its next tick only).
        self._wake_endpoint = f"inproc://pingd-wake-{id(self):x}"
        self._wake_prefix = b"pingd-wake-" + secrets.token_hex(16).encode() + b"-"
        self._wake_ids = itertools.count()
        # Held while a wake-up socket lives and while the wake-ups are shut off: libzmq aborts
        # the process if a socket is made while another thread terminates the context.
        self._wake_lock = threading.Lock()
        self._wakes_closed = False
        sock.bind(self._wake_endpoint)
        self._tasks: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._stopping = threading.Event()
        #: The receive in use: the socket's own, or the one ``watch_peers`` handed over.
        self.receive: Receive = sock.recv_multipart
        # For the metrics, read by a scrape on another thread: plain ints, kept where requests
        # other than PING and ERROR replies are made, off the hot path (PINGs are the actor's
        # count of pings served). Every key exists from the start: a reader never sees the
        # dict grow.
        #: STATUS requests answered.
        self.status_requests = 0
        #: Peers' PROBEs answered (never counted as pings), and PEERS requests answered.
        self.probes_served = 0
        self.peers_requests = 0
        #: ERROR replies sent, by code.
        self.errors: dict[ErrorCode, int] = dict.fromkeys(ErrorCode, 0)
        #: With --sync always: how many requests each group commit answered.
        self.batches = Histogram(BATCH_BUCKETS)

    # -- from any thread ---------------------------------------------------------------------

    def call_soon(self, task: Callable[[], None]) -> None:
        """Run ``task`` on the loop's thread, the one that owns the actor, at its next turn."""
        self._tasks.put(task)
        self.wake()

    def stop(self) -> None:
        """End ``run`` at its next turn (at once: the receive is woken)."""
        self._stopping.set()
        self.wake()

    def wake(self) -> None:
        """Unblock the loop's receive with an empty message from the loop's own wake-up peer."""
        with self._wake_lock:
            if self._wakes_closed:
                return  # shutting down: nothing left to wake
            try:
                waker = self._context.socket(zmq.DEALER)
            except zmq.ZMQError:
                return  # the context has ended
            try:
                waker.routing_id = self._wake_prefix + b"%d" % next(self._wake_ids)
                waker.connect(self._wake_endpoint)
                waker.send(b"", zmq.NOBLOCK)
            except zmq.ZMQError:
                pass  # already awake, or closing
            finally:
                waker.close(linger=1000)

    def close_wakes(self) -> None:
        """No wake-up socket is made from now on (before the context is terminated); a wake-up
        in progress on another thread is waited for."""
        with self._wake_lock:
            self._wakes_closed = True

    # -- on the loop's thread ------------------------------------------------------------------

    def watch_peers(self, receive: Receive | None) -> None:
        """The idle-peer hook: receive with ``receive`` from the next turn on (it notes which
        peer each request came from, while descriptors are short); None for the socket's own."""
        self.receive = receive or self._socket.recv_multipart

    def run(self, on_tick: Callable[[float], float]) -> None:
        """Turn until ``stop()``: receive one message or time out, run the tasks handed over,
        answer, then persistence's timers, and ``on_tick(now)`` once it is due (at once, and
        then whenever the time it returned has come)."""
        sock = self._socket
        sock.rcvtimeo = timeout = TICK_MS
        stopping, tasks, clock, persistence = self._stopping, self._tasks, self._clock, self.persistence
        next_tick = on_tick(clock())
        while not stopping.is_set():
            try:
                first = self.receive()
            except zmq.Again:  # a quiet turn: only the timers to look at
                first = None
            while not tasks.empty():
                self._run_task(tasks.get_nowait())
            if first is not None:
                self.answer(first)
            now = clock()
            persistence.tick(now)
            if now >= next_tick:
                next_tick = on_tick(now)
            # Busy: TICK_MS, set once when the traffic begins. Quiet: until the next deadline.
            wanted = TICK_MS if first is not None else sleep_ms(min(next_tick, persistence.due) - now)
            if wanted != timeout:
                sock.rcvtimeo = self.timeout_ms = timeout = wanted

    #: The receive timeout the loop set last (ms): what it sleeps for when nothing comes.
    timeout_ms: int = TICK_MS

    def answer(self, frames: list[bytes]) -> None:
        """Answer the message ``frames`` and, when draining, whatever else is already waiting
        (up to MAX_BATCH), after one commit for them all; the replies leave in the order their
        requests came."""
        recv, events, drain = self.receive, self._socket.getsockopt, self._drain
        is_ping, wake_prefix = protocol.is_ping, self._wake_prefix
        replies: list[_Reply] = []
        while True:
            if len(frames) == 2 and is_ping(frames[1]):  # a PING from a DEALER: the hot path
                self._ping(frames[0], False, frames[1], replies)
            elif not frames[0].startswith(wake_prefix):
                self._decode(frames, replies)
            # Drain only with --sync always (group commit). Otherwise one message per turn: a
            # pwrite (~1 µs) costs less than asking the socket whether more is waiting (a
            # getsockopt, ~1.5 µs in pyzmq).
            if not drain or len(replies) >= MAX_BATCH or not cast(int, events(_EVENTS)) & _POLLIN:
                break
            frames = recv(_NOBLOCK)
        if self.actor.dirty:
            if drain:
                self.batches.observe(len(replies))
            if not self.persistence.commit():
                refused = _refuse_pongs(replies, f"not counted: {self.actor.storage_error}")
                self.errors[ErrorCode.STORAGE_FAILED] += refused
        self._send(replies)

    def _send(self, replies: list[_Reply]) -> None:
        """The replies, in order. A STATUS is answered here, after the commit: it reports the
        count the batch committed, so one behind a PING on its connection never reports less
        than that PING's PONG.

        A ROUTER with router_mandatory off never refuses a send: a reply to a vanished peer,
        or to one whose queue is full, is dropped by libzmq, and the batch goes on."""
        send, pong_for = self._socket.send, protocol.pong_for
        for peer, envelope, ping, count, other in replies:
            send(peer, _MORE)
            if envelope:
                send(b"", _MORE)
            if ping is not None:
                send(pong_for(ping, count), _NOBLOCK)
            else:
                send(self._encode(other), _NOBLOCK)

    def _encode(self, other: StatusRequest | ProbeRequest | PeersRequest | ErrorReply | None) -> bytes:
        """Any reply but a PONG; a STATUS's from the actor as it is now."""
        if isinstance(other, ProbeRequest):
            return protocol.encode_probe_reply(other.seq)
        if isinstance(other, StatusRequest):
            status = replace(
                self.actor.status(self._clock()),
                announced=self._announced(),
                probes_served=self.probes_served,
                mesh=self._mesh(),
            )
            return protocol.encode_reply(StatusReply(other.seq, status))
        if isinstance(other, PeersRequest):
            return protocol.encode_peers_reply(other.seq, self._peer_table())
        assert other is not None  # a reply that is not a PONG carries what answers it
        return protocol.encode_reply(other)

    def _ping(self, peer: bytes, envelope: bool, ping: bytes, replies: list[_Reply]) -> None:
        """Every PING is counted here, whichever way it came."""
        count = self.actor.ping()
        if count is None:
            self.errors[ErrorCode.COUNT_EXHAUSTED] += 1
            error = ErrorReply(protocol.sequence_of(ping), ErrorCode.COUNT_EXHAUSTED, "the count is at 2**64-1")
            replies.append((peer, envelope, None, 0, error))
        else:
            replies.append((peer, envelope, ping, count, None))

    def _decode(self, frames: list[bytes], replies: list[_Reply]) -> None:
        """Anything but a single-frame PING. A request that came after an empty delimiter frame
        (as a REQ socket sends it) is answered after one too."""
        peer = frames[0]
        envelope = len(frames) > 2 and frames[1] == b""
        message = frames[2:] if envelope else frames[1:]
        if len(message) != 1:
            seq = protocol.sequence_of(message[0]) if message else 0
            self.errors[ErrorCode.MALFORMED] += 1
            error = ErrorReply(seq, ErrorCode.MALFORMED, "a request is exactly one frame")
            replies.append((peer, envelope, None, 0, error))
            return
        try:
            request = protocol.decode_request(message[0])
        except ProtocolError as exc:
            self.errors[exc.code] += 1
            replies.append((peer, envelope, None, 0, ErrorReply(exc.seq, exc.code, exc.text)))
            return
        if isinstance(request, Ping):  # from a REQ socket: the same PING path
            self._ping(peer, envelope, message[0], replies)
        else:  # answered once the batch is committed (_send)
            if isinstance(request, ProbeRequest):
                self.probes_served += 1
            elif isinstance(request, PeersRequest):
                self.peers_requests += 1
            else:
                self.status_requests += 1
            replies.append((peer, envelope, None, 0, request))

    def _run_task(self, task: Callable[[], None]) -> None:
        """A task from another thread (a reload, a rename): one that fails is one log line,
        and the loop serves on; it must never end the loop that answers pings."""
        try:
            task()
        except Exception as exc:
            log.error("an internal task failed, serving on: %s: %s", type(exc).__name__, exc)


def _refuse_pongs(replies: list[_Reply], text: str) -> int:
    """The commit failed: each PONG of the batch becomes an ERROR 4, in its place. Returns
    how many."""
    refused = 0
    for i, (peer, envelope, ping, _, _) in enumerate(replies):
        if ping is not None:
            error = ErrorReply(protocol.sequence_of(ping), ErrorCode.STORAGE_FAILED, text)
            replies[i] = (peer, envelope, None, 0, error)
            refused += 1
    return refused


def sleep_ms(seconds: float) -> int:
    """A receive timeout that ends at a deadline ``seconds`` away: rounded up, so that the loop
    wakes at or after it and not a moment early (which would cost a second wake-up); at least
    1 ms (0 would not wait at all) and at most ``MAX_SLEEP_MS``."""
    if seconds >= MAX_SLEEP_MS / 1000:
        return MAX_SLEEP_MS
    return max(1, math.ceil(seconds * 1000))
