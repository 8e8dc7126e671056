"""`pingctl monitor`'s prober: every daemon probed from one thread, by one poll loop over their
DEALER sockets, each on a schedule of its own.

A thread per daemon would cost, per probe, two wake-ups and two hand-offs of the interpreter
lock, and a thread's stack per daemon; here a probe costs a send, a receive and a little
bookkeeping, and the loop sleeps in one poll until the next probe is due, a reply comes, a
probe times out, or the caller wants a turn (discovery's news, a grace period running out).

Each daemon's probes follow the rules of ``pingctl.client`` (the zguide's Lazy Pirate): one
request in flight, matched to its reply by sequence number; a request not answered within
``timeout`` is lost, its socket closed with linger 0 (so it is never delivered late) and a
fresh one opened for the next; it is never sent again, since a re-sent PING that had got
through would be counted twice. A reply's clock is read as it is received, before any reply
is handled, so what one daemon's reply adds to another's round trip is a receive, never the
bookkeeping.

Schedules: a daemon's first probe is due at a random point within the first interval, and
each next one an interval later, varied by up to ±10 %, so a fleet's probes spread out and do
not beat with anything periodic in the daemons. A probe that ended late (a timeout longer
than the interval) is followed at once, never by a burst to catch up.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import zmq

from pingctl.exposition import Figures, Labels, Series
from pingctl.model import Target
from pingd.shared import addresses, protocol
from pingd.shared.keys import KeyPair
from pingd.shared.protocol import ErrorCode, ErrorReply, Pong, ProtocolError, StatusReply, VersionMismatch

#: How far each interval is varied, as a fraction of it.
JITTER = 0.1

_NOBLOCK = int(zmq.NOBLOCK)
_POLLIN = int(zmq.POLLIN)
_PONG_SIZE = protocol.HEADER_SIZE + 8


def first_due(now: float, interval: float, rng: random.Random) -> float:
    """When a daemon found ``now`` is first probed: somewhere within the first interval."""
    return now + rng.random() * interval


#: Failures after which a daemon given by address is asked its STATUS again: no answer came.
_SILENT = (None, "unsent", "local_limit")


def next_due(slot: float, now: float, interval: float, rng: random.Random) -> float:
    """When the probe after the one due at ``slot`` is due, its outcome known ``now``: an
    interval after ``slot``, varied by up to ±JITTER of it, and never before ``now``."""
    return max(now, slot + interval * (1.0 + JITTER * (2.0 * rng.random() - 1.0)))


def error_kind(code: int) -> str:
    """The ``kind`` label of a daemon's ERROR reply: its code's name (a bounded set: an
    unknown code is ``error_reply``, so a hostile daemon cannot grow the label set)."""
    try:
        return ErrorCode(code).name.lower()
    except ValueError:
        return "error_reply"


@dataclass(eq=False, slots=True)
class Probe:
    """One daemon's place in the loop: where it is, its series, and its probe in flight."""

    target: Target
    labels: Labels
    series: Series
    #: Given by address: it is first asked its STATUS, which says who answers there (name, node
    #: id) for the labels, and so again after a probe that got no answer (another daemon may
    #: answer there now). A STATUS is a lookup, not a probe: it counts only when it fails.
    given: bool = False
    ask_status: bool = False
    #: Called once the daemon has answered through its announced key (to pin it).
    on_answer: Callable[[], None] | None = None
    sock: zmq.Socket | None = None
    seq: int = 0
    slot: float = 0.0
    sent_ns: int = 0
    waiting: bool = False
    retired: bool = False


class Prober:
    """The loop's state. ``turn`` is its body; the caller loops, and adds and retires probes
    between turns."""

    def __init__(
        self,
        figures: Figures,
        interval: float,
        timeout: float,
        context: zmq.Context,
        client_keys: Callable[[], KeyPair],
        rng: random.Random | None = None,
    ) -> None:
        self.figures = figures
        self.interval = interval
        self.timeout = timeout
        self.context = context
        self.client_keys = client_keys
        self.rng = rng or random.Random()
        self.probes: set[Probe] = set()
        self._due: list[tuple[float, int, Probe]] = []  # a heap: each probe's next send
        self._flying: dict[zmq.Socket, Probe] = {}  # sockets with a request in flight
        self._expiring: deque[tuple[float, Probe, int]] = deque()  # (expiry, probe, seq), in send order
        self._order = itertools.count()
        self._stale = 0  # probes retired since the heap was last rebuilt
        self.poller = zmq.Poller()

    def add(self, probe: Probe, now: float) -> Probe:
        """Probe ``probe`` from now on, first within one interval."""
        probe.ask_status = probe.given
        probe.slot = first_due(now, self.interval, self.rng)
        self.probes.add(probe)
        heapq.heappush(self._due, (probe.slot, next(self._order), probe))
        return probe

    def retire(self, probe: Probe) -> None:
        """Probe ``probe`` no more (its series are the caller's to forget)."""
        probe.retired = True
        self.probes.discard(probe)
        self._reset(probe)
        self._stale += 1
        if self._stale * 2 > len(self._due):  # mostly the retired's: rebuilt, so churn keeps nothing
            self._due = [entry for entry in self._due if not entry[2].retired]
            heapq.heapify(self._due)
            self._stale = 0

    def watch(self, fd: int) -> None:
        """Wake the poll when ``fd`` is readable (the caller drains it)."""
        self.poller.register(fd, _POLLIN)

    def turn(self, until: float) -> None:
        """Send every probe due, lose every one timed out, then wait in one poll until the next
        of those, a reply, ``until`` (monotonic), or a watched descriptor; handle the replies."""
        now = time.monotonic()
        self._send_due(now)
        self._expire(now)
        wake = min(until, self._due[0][0] if self._due else math.inf)
        if self._expiring:
            wake = min(wake, self._expiring[0][0])
        wait = -1 if wake == math.inf else max(0, math.ceil((wake - time.monotonic()) * 1000))
        clock_ns = time.perf_counter_ns
        replies = []
        for sock, _ in self.poller.poll(wait):
            probe = self._flying.get(sock)
            if probe is None:
                continue  # a watched descriptor: the caller's
            try:
                data = sock.recv(_NOBLOCK)
            except zmq.Again:
                continue
            replies.append((probe, data, clock_ns()))  # the clock first; handled after
        if replies:
            now = time.monotonic()
            for probe, data, received in replies:
                self._reply(probe, data, received, now)

    def close(self) -> None:
        for probe in list(self.probes):
            self.retire(probe)
        self._due.clear()
        self._expiring.clear()

    def size(self) -> int:
        """Entries kept, all tables together: what a long run's churn must not grow."""
        return len(self.probes) + len(self._due) + len(self._flying) + len(self._expiring)

    # -- sending and losing -------------------------------------------------------------------

    def _send_due(self, now: float) -> None:
        due = self._due
        while due and due[0][0] <= now:
            probe = heapq.heappop(due)[2]
            if not probe.retired:
                self._send(probe, now)

    def _send(self, probe: Probe, now: float) -> None:
        if not probe.ask_status:
            with self.figures.lock:
                probe.series.sent += 1
        try:
            sock = probe.sock or self._open(probe)
        except zmq.ZMQError:  # out of sockets or descriptors: this probe fails, the rest go on
            self._failed(probe, "local_limit", now)
            return
        probe.seq = seq = probe.seq % protocol.MAX_SEQ + 1
        frame = protocol.encode_status_request(seq) if probe.ask_status else protocol.encode_ping(seq)
        probe.sent_ns = time.perf_counter_ns()
        try:
            sock.send(frame, _NOBLOCK)
        except zmq.Again:  # the queue to a daemon that is not there is full
            self._failed(probe, "unsent", now)
            return
        probe.waiting = True
        self._flying[sock] = probe
        self.poller.register(sock, _POLLIN)
        self._expiring.append((now + self.timeout, probe, seq))

    def _expire(self, now: float) -> None:
        expiring = self._expiring
        while expiring and expiring[0][0] <= now:
            _, probe, seq = expiring.popleft()
            if probe.waiting and probe.seq == seq and not probe.retired:
                self._failed(probe, None, now)

    def _failed(self, probe: Probe, kind: str | None, now: float) -> None:
        """No answer in time (``kind`` None) or a failure of ``kind``: lost, and a fresh socket
        for the next probe."""
        self._reset(probe)
        with self.figures.lock:
            if probe.ask_status:  # a STATUS that failed: a probe lost all the same
                probe.series.sent += 1
            probe.series.failed(kind)
        # Silence may mean another daemon there now; an answer (an ERROR, say) came from this one.
        probe.ask_status = probe.given and kind in _SILENT
        self._schedule(probe, now)

    def _reset(self, probe: Probe) -> None:
        self._settle(probe)
        if probe.sock is not None:
            probe.sock.close(linger=0)
            probe.sock = None

    def _settle(self, probe: Probe) -> None:
        """The probe in flight is over: stop polling its socket."""
        if probe.waiting:
            probe.waiting = False
            if probe.sock is not None:
                self.poller.unregister(probe.sock)
                del self._flying[probe.sock]

    def _schedule(self, probe: Probe, now: float) -> None:
        if not probe.retired:
            probe.slot = next_due(probe.slot, now, self.interval, self.rng)
            heapq.heappush(self._due, (probe.slot, next(self._order), probe))

    # -- answers ------------------------------------------------------------------------------

    def _reply(self, probe: Probe, data: bytes, received_ns: int, now: float) -> None:
        if not probe.waiting or probe.retired:
            return
        rtt = (received_ns - probe.sent_ns) / 1e9
        seq_bytes = probe.seq.to_bytes(8, "big")
        if len(data) == _PONG_SIZE and data[:4] == protocol.PONG_PREFIX and data[4:12] == seq_bytes:
            self._answered(probe, rtt, int.from_bytes(data[12:], "big"), now)  # the usual answer, by its bytes
            return
        try:
            reply = protocol.decode_reply(data)
        except VersionMismatch:
            self._failed(probe, "wrong_version", now)
            return
        except ProtocolError:
            self._failed(probe, "not_pingd", now)
            return
        if reply.seq != probe.seq:
            return  # a reply to an earlier request: never counted; this one goes on waiting
        if isinstance(reply, ErrorReply):
            self._failed(probe, error_kind(reply.code), now)
        elif isinstance(reply, StatusReply) and probe.ask_status:
            self._identified(probe, reply.status)
            self._settle(probe)
            with self.figures.lock:
                probe.series.count = reply.status.count
            probe.ask_status = False
            self._send(probe, now)  # the probe itself, at once
        elif isinstance(reply, Pong) and not probe.ask_status:
            self._answered(probe, rtt, reply.count, now)
        else:
            self._failed(probe, "bad_reply", now)

    def _answered(self, probe: Probe, rtt: float, count: int, now: float) -> None:
        self._settle(probe)
        with self.figures.lock:
            probe.series.answered(rtt, count)
        probe.ask_status = False
        if probe.on_answer is not None:
            on_answer, probe.on_answer = probe.on_answer, None
            on_answer()
        self._schedule(probe, now)

    def _identified(self, probe: Probe, status: protocol.Status) -> None:
        """A daemon given by address said who it is: its series carry its name and node id."""

        labels = Labels(status.name, probe.labels.address, status.node_id)  # raw: the exposition escapes
        if labels != probe.labels:
            probe.series = self.figures.move(probe.labels, labels)
            probe.labels = labels

    # -- the socket ---------------------------------------------------------------------------

    def _open(self, probe: Probe) -> zmq.Socket:
        """A fresh DEALER connected to the daemon, set as ``pingctl.client`` sets its own."""
        target = probe.target
        sock = self.context.socket(zmq.DEALER)
        sock.linger = 0
        sock.ipv6 = addresses.is_ipv6(target.address)
        sock.maxmsgsize = protocol.MAX_REPLY_SIZE
        sock.reconnect_ivl = 100
        sock.reconnect_ivl_max = 1000
        if target.server_key:
            pair = self.client_keys()
            sock.curve_serverkey = target.server_key.encode()
            sock.curve_publickey = pair.public.encode()
            sock.curve_secretkey = pair.secret.encode()
        sock.connect(target.endpoint)
        probe.sock = sock
        return sock
