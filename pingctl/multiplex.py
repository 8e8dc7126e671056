"""Every session of ``ping --all`` run from one thread by one poll loop, as fping pings thousands
of hosts: each ping goes out when it is due, and the loop sleeps in one poll until the next ping
is due, a reply comes, a ping times out, or the board is to be redrawn.

Why not a thread per session, as ``pingctl.session.run`` runs one: each ping of a thread of its
own costs a wake-up from its wait, the interpreter lock taken and handed on, a second wake-up
for the reply and the lock again, so 300 sessions meant 300 threads queueing for one lock and
two cores, and the daemons whose replies came while others held it paid for the wait
(docs/performance.md has the figures, before and after).

A reply's clock is read as it is received, before any reply is handled: what one daemon's
reply adds to another's round trip is a receive (microseconds), never the bookkeeping.
Pings are due on each session's own schedule (``Session.offset``, ``interval``, ``deadline``,
``count``), with the rules of ``Session.run``: a ping that times out is lost, never re-sent;
a session behind schedule sends its next ping as soon as the last one ends.

Ctrl-C (SIGINT) does not raise in the middle of the loop's bookkeeping: while the loop runs,
its handler only sets a flag, and Python's wake-up descriptor makes the poll return. The loop
then ends between two steps: every ping in flight counts as transmitted and lost, as ping
counts it, and every reply already received is kept.
"""

from __future__ import annotations

import heapq
import itertools
import math
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import zmq

from pingctl.errors import ClientError
from pingctl.model import PingResult
from pingctl.session import Session

_NOBLOCK = int(zmq.NOBLOCK)


@dataclass(eq=False, slots=True)
class _Lane:
    """One session's place in the loop."""

    session: Session
    first: float  # when its first ping is due (monotonic)
    end: float | None  # its deadline, if it has one
    sent: int = 0  # pings sent so far
    sock: zmq.Socket | None = None  # while a ping is in flight: where its reply comes
    sent_ns: int = 0  # that ping's send (perf_counter_ns)
    done: bool = False


def run(sessions: Sequence[Session], *, redraw: Callable[[], None] | None = None, every: float = 0.25) -> bool:
    """Run ``sessions`` together from this thread until all end; False if Ctrl-C stopped them.

    ``redraw`` is called every ``every`` seconds meanwhile, and once at the end. Each session's
    client is closed as the session ends."""
    with _ctrl_c() as (wake, interrupted):
        loop = _Loop(sessions, wake)
        try:
            loop.run(interrupted, redraw, every)
        finally:
            loop.close(cut_off=interrupted())
    if redraw is not None:
        redraw()
    return not interrupted()


class _Loop:
    def __init__(self, sessions: Sequence[Session], wake: socket.socket | None) -> None:
        self.start = start = time.monotonic()
        self.lanes = [_Lane(s, start + s.offset, None if s.deadline is None else start + s.deadline) for s in sessions]
        self.due: list[tuple[float, int, _Lane]] = []  # a heap: when each session's next ping is due
        self.flying: dict[zmq.Socket, _Lane] = {}  # the sockets with a ping in flight
        self.expiring: deque[tuple[int, _Lane, int]] = deque()  # (expiry, lane, ping): in the order sent
        self.poller = zmq.Poller()
        self.wake = wake
        if wake is not None:
            self.poller.register(wake.fileno(), zmq.POLLIN)
        self._order = itertools.count()
        for lane in self.lanes:
            lane.session.begin()
            self._schedule(lane)

    def run(self, interrupted: Callable[[], bool], redraw: Callable[[], None] | None, every: float) -> None:
        next_redraw = self.start + every if redraw is not None else math.inf
        clock_ns = time.perf_counter_ns
        while True:
            self._send_due()
            self._expire()
            if not (self.due or self.flying) or interrupted():
                return
            replies = []
            for sock, _ in self.poller.poll(self._wait_ms(next_redraw)):
                lane = self.flying.get(sock)
                if lane is None:
                    self._drain_wake()
                    continue
                try:
                    data = sock.recv(_NOBLOCK)
                except zmq.Again:
                    continue
                replies.append((lane, data, clock_ns()))  # the clock first; handled after
            for lane, data, received in replies:
                self._reply(lane, data, received)
            if redraw is not None and time.monotonic() >= next_redraw:
                redraw()
                next_redraw = time.monotonic() + every

    def _wait_ms(self, next_redraw: float) -> int:
        """How long the poll may sleep: until the next ping is due, the next timeout or redraw."""
        until = min(self.due[0][0] if self.due else math.inf, next_redraw)
        wait = until - time.monotonic()
        if self.expiring:
            wait = min(wait, (self.expiring[0][0] - time.perf_counter_ns()) / 1e9)
        if wait == math.inf:
            return -1  # nothing is due; a reply or Ctrl-C ends the wait
        return max(0, math.ceil(wait * 1000))

    def _send_due(self) -> None:
        now = time.monotonic()
        while self.due and self.due[0][0] <= now:
            lane = heapq.heappop(self.due)[2]
            session = lane.session
            if session.stop.is_set() or (lane.end is not None and now >= lane.end):
                self._finish(lane)
                continue
            lane.sent += 1
            client = session.client
            try:
                queued = client.send_ping()
            except zmq.ZMQError:  # no socket to be had (descriptors): lost, as a ping with no reply
                queued = None
            if queued is None:
                self._landed(lane, PingResult(client.last_seq))
                continue
            lane.sock, lane.sent_ns = queued
            self.flying[lane.sock] = lane
            self.poller.register(lane.sock, zmq.POLLIN)
            expiry = lane.sent_ns + round(client.timeout * 1e9)
            self.expiring.append((expiry, lane, lane.sent))

    def _expire(self) -> None:
        """Every ping whose timeout has passed is lost."""
        now = time.perf_counter_ns()
        while self.expiring and self.expiring[0][0] <= now:
            _, lane, ping = self.expiring.popleft()
            if lane.sock is not None and lane.sent == ping:  # still waiting for that reply
                self._unregister(lane)
                self._landed(lane, lane.session.client.time_out())

    def _reply(self, lane: _Lane, data: bytes, received: int) -> None:
        client = lane.session.client
        try:
            result = client.take_reply(data, received - lane.sent_ns)
        except ClientError:  # no pingd (of this version) answers there any more: the session ends
            self._unregister(lane)
            lane.session.stop.set()
            self._landed(lane, PingResult(client.last_seq))
            return
        if result is not None:  # None: a late reply to an earlier ping; this one still waits
            self._unregister(lane)
            self._landed(lane, result)

    def _unregister(self, lane: _Lane) -> None:
        if lane.sock is not None:
            self.poller.unregister(lane.sock)
            del self.flying[lane.sock]
            lane.sock = None

    def _landed(self, lane: _Lane, result: PingResult) -> None:
        lane.session.observer.record(lane.sent, result)
        self._schedule(lane)

    def _schedule(self, lane: _Lane) -> None:
        """The session's next ping on its schedule (at once if behind it), or its end."""
        session = lane.session
        if (session.count and lane.sent >= session.count) or session.stop.is_set():
            self._finish(lane)
            return
        due = lane.first + lane.sent * session.interval
        if lane.end is not None:
            due = min(due, lane.end)
        heapq.heappush(self.due, (due, next(self._order), lane))

    def _finish(self, lane: _Lane) -> None:
        lane.done = True
        lane.session.end()
        lane.session.client.close()

    def _drain_wake(self) -> None:
        if self.wake is not None:
            try:
                while self.wake.recv(4096):
                    pass
            except BlockingIOError:
                pass

    def close(self, *, cut_off: bool) -> None:
        """End every session still running; with ``cut_off``, each ping in flight is lost."""
        for lane in list(self.flying.values()):
            self._unregister(lane)
            client = lane.session.client
            if cut_off:
                lane.session.observer.cut_off(PingResult(client.last_seq))
            client.in_flight = False
        self.due.clear()
        for lane in self.lanes:
            if not lane.done:
                self._finish(lane)


@contextmanager
def _ctrl_c() -> Iterator[tuple[socket.socket | None, Callable[[], bool]]]:
    """Within the block, SIGINT sets a flag and wakes the loop's poll (the socket yielded, fed by
    Python's wake-up descriptor) instead of raising wherever the loop is. Off the main thread, or
    where SIGINT is not the default KeyboardInterrupt, nothing changes."""
    hit = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield None, hit.is_set
        return
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield None, hit.is_set
        return
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    signal.signal(signal.SIGINT, lambda signum, frame: hit.set())
    try:
        yield reader, hit.is_set
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.set_wakeup_fd(previous_fd)
        reader.close()
        writer.close()
