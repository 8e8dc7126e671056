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

Pings leave when they are due to within tens of microseconds, not at the next whole
millisecond: a poll's timeout counts whole milliseconds, and 300 daemons pinged every 0.1 s are
a ping every 0.33 ms, so a poll that rounds up sent them three at a time, and each burst's
daemons, woken together, queued for the cores (the median daemon's p50 0.39-0.51 ms, the worst
0.66-1.21 ms; paced: 0.27-0.30 and 0.48-0.52 ms, docs/performance.md). So the loop also sets an
interval timer (``setitimer``, microseconds) for the moment the next ping is due, and its
SIGALRM wakes the poll through the same descriptor as Ctrl-C, as ping once paced itself with
SIGALRM. Off the main thread, or where SIGALRM is already someone else's, the poll's
milliseconds are the pace.

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
#: A ping is sent this close to its time without a wait (seconds): less than a wake-up costs.
_PRECISION = 10e-6


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
    with _wakes() as wakes:
        loop = _Loop(sessions, wakes)
        try:
            loop.run(redraw, every)
        finally:
            loop.close(cut_off=wakes.interrupted())
    if redraw is not None:
        redraw()
    return not wakes.interrupted()


@dataclass(frozen=True, slots=True)
class _Wakes:
    """What ends the poll's wait besides a reply: Ctrl-C and the alarm, both written to
    ``socket`` by Python's wake-up descriptor (None: nothing does, off the main thread)."""

    socket: socket.socket | None
    interrupted: Callable[[], bool]
    alarm: Callable[[float], None]  # wake the poll this many seconds from now (microseconds)


def _no_alarm(seconds: float) -> None:
    """Where SIGALRM is not ours: the poll's own timeout, in whole milliseconds, is the pace."""


class _Loop:
    def __init__(self, sessions: Sequence[Session], wakes: _Wakes) -> None:
        self.start = start = time.monotonic()
        self.lanes = [_Lane(s, start + s.offset, None if s.deadline is None else start + s.deadline) for s in sessions]
        self.due: list[tuple[float, int, _Lane]] = []  # a heap: when each session's next ping is due
        self.flying: dict[zmq.Socket, _Lane] = {}  # the sockets with a ping in flight
        self.expiring: deque[tuple[int, _Lane, int]] = deque()  # (expiry, lane, ping): in the order sent
        self.poller = zmq.Poller()
        self.wakes = wakes
        self.alarm_at = math.inf  # when the alarm set last goes off
        if wakes.socket is not None:
            self.poller.register(wakes.socket.fileno(), zmq.POLLIN)
        self._order = itertools.count()
        for lane in self.lanes:
            lane.session.begin()
            self._schedule(lane)

    def run(self, redraw: Callable[[], None] | None, every: float) -> None:
        next_redraw = self.start + every if redraw is not None else math.inf
        clock_ns, interrupted = time.perf_counter_ns, self.wakes.interrupted
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
        """How long the poll may sleep: until the next ping is due, the next timeout or redraw.
        The poll counts whole milliseconds; when the next ping is due sooner than its timeout
        would end, the alarm wakes it then."""
        now = time.monotonic()
        send = self.due[0][0] if self.due else math.inf
        wait = min(send, next_redraw) - now
        if self.expiring:
            wait = min(wait, (self.expiring[0][0] - time.perf_counter_ns()) / 1e9)
        if wait == math.inf:
            return -1  # nothing is due; a reply or Ctrl-C ends the wait
        if wait <= _PRECISION:
            return 0
        if send - now <= wait + _PRECISION and send != self.alarm_at:
            self.alarm_at = send  # an alarm already set for this ping stands
            self.wakes.alarm(send - now)
        return math.ceil(wait * 1000)

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
        if self.wakes.socket is not None:
            try:
                while self.wakes.socket.recv(4096):
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
def _wakes() -> Iterator[_Wakes]:
    """Within the block, SIGINT sets a flag and wakes the loop's poll (the socket yielded, fed by
    Python's wake-up descriptor) instead of raising wherever the loop is, and SIGALRM, from the
    interval timer ``alarm`` sets, wakes it too. Off the main thread, or where SIGINT is not the
    default KeyboardInterrupt, nothing changes; where SIGALRM already has a handler, it is left
    alone and there is no alarm. On leaving, the timer is stopped and every handler restored."""
    hit = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield _Wakes(None, hit.is_set, _no_alarm)
        return
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield _Wakes(None, hit.is_set, _no_alarm)
        return
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    signal.signal(signal.SIGINT, lambda signum, frame: hit.set())
    ours = signal.getsignal(signal.SIGALRM) == signal.SIG_DFL and signal.getitimer(signal.ITIMER_REAL)[0] == 0
    if ours:
        signal.signal(signal.SIGALRM, _on_alarm)
    try:
        yield _Wakes(reader, hit.is_set, _alarm if ours else _no_alarm)
    finally:
        if ours:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.set_wakeup_fd(previous_fd)
        reader.close()
        writer.close()


def _alarm(seconds: float) -> None:
    """SIGALRM ``seconds`` from now (replacing any alarm set before): the interval timer counts
    microseconds, where the poll counts milliseconds."""
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-6))


def _on_alarm(signum: int, frame: object) -> None:
    """Nothing to do: the signal's byte on the wake-up descriptor has woken the poll."""
