"""Ping sessions: ``count`` pings ``interval`` seconds apart, each result handed on as it comes,
against one daemon or many at once.

Pings are sent on a fixed schedule (start + i × interval), as ping does; the wait between
pings is never part of a round trip. A ping that times out is lost, not repeated.

``run`` runs a session in a thread of its own (``pingctl ping`` to one daemon), its ping a
blocking send and receive on its own socket: pyzmq lets go of the GIL while the thread waits
in ``recv``, libzmq wakes exactly that thread when its reply comes, and nothing is between a
ping's two clock readings but that send and receive. The sessions of ``ping --all`` are run
by ``pingctl.multiplex`` instead, all from one poll loop: a thread each costs two wake-ups and
two hand-offs of the GIL per ping, which with hundreds of daemons queue behind each other.
They start a fraction of the interval apart (``offset``), so the daemons' pings do not leave,
and come back, in the same instant.

The calling thread only waits (and redraws a live view). Ctrl-C reaches it, and it stops
every session at once: it sets each one's ``stop`` (which ends its wait between pings) and
terminates the shared ZeroMQ context, which ends any receive in progress; a ping cut off
that way counts as transmitted and lost, as ping counts it.

A session keeps no result itself: each goes to its ``observer`` (``pingctl.observer``), the
one record that the live view, the ``--all`` board and the summary all read.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pingctl.errors import Interrupted
from pingctl.model import PingResult
from pingctl.observer import Observer
from pingctl.stats import Summary

if TYPE_CHECKING:
    from pingctl.client import PingClient


@dataclass(frozen=True, slots=True)
class Schedule:
    """What a session does, and every session of `ping --all` alike: the count, the interval,
    the reply timeout and the deadline."""

    count: int  # 0: until stopped
    interval: float
    timeout: float
    deadline: float | None = None


@dataclass
class Session:
    client: PingClient
    count: int  # 0: until stopped
    interval: float
    deadline: float | None = None  # seconds from the start, whatever the count
    offset: float = 0.0  # seconds after the start before the first ping
    observer: Observer = field(default_factory=Observer)
    clock: Callable[[], float] = time.monotonic
    stop: threading.Event = field(default_factory=threading.Event)
    #: How the session waits; it returns early (True) when the session is stopped.
    sleep: Callable[[float], object] | None = None
    _started: float | None = None
    _ended: float | None = None

    def run(self) -> None:
        """Ping until the count, the deadline or a stop; a stop ends the session quietly."""
        self._started = start = self.clock()
        try:
            if self.interval == 0 and self.deadline is None and self.offset == 0:
                self._flat_out()
            else:
                self._paced(start)
        except Interrupted:
            pass
        finally:
            self._ended = self.clock()

    def _flat_out(self) -> None:
        """Each ping right after the last reply: no clock, no schedule between them."""
        indexes = itertools.count(1) if self.count == 0 else range(1, self.count + 1)
        stopped = self.stop.is_set
        for index in indexes:
            if stopped():
                return
            self._ping(index)

    def _paced(self, start: float) -> None:
        sleep = self.sleep or self.stop.wait
        first = start + self.offset
        end = None if self.deadline is None else start + self.deadline
        index = 0
        while self.count == 0 or index < self.count:
            due = first + index * self.interval
            if end is not None:
                due = min(due, end)
            wait = due - self.clock()
            if wait > 0:
                sleep(wait)
            if self.stop.is_set() or (end is not None and self.clock() >= end):
                return
            index += 1
            self._ping(index)

    def _ping(self, index: int) -> None:
        try:
            result = self.client.ping()
        except (KeyboardInterrupt, Interrupted):
            if getattr(self.client, "in_flight", False):
                # Sent and not answered: transmitted and lost, as ping counts it.
                self.observer.cut_off(PingResult(self.client.last_seq))
            raise
        self.observer.record(index, result)

    def begin(self) -> None:
        """The session starts now, run by a loop of its own (``pingctl.multiplex``), not ``run``."""
        self._started = self.clock()

    def end(self) -> None:
        """The session, run by a loop of its own, ends now."""
        self._ended = self.clock()

    @property
    def elapsed(self) -> float:
        if self._started is None:
            return 0.0
        end = self._ended if self._ended is not None else self.clock()
        return end - self._started

    def summary(self) -> Summary:
        """ping's statistics of the session so far (or, once it ended, of all of it)."""
        return self.observer.summary(self.elapsed)


def run(
    sessions: Sequence[Session],
    *,
    interrupt: Callable[[], None] = lambda: None,
    redraw: Callable[[], None] | None = None,
    every: float = 0.25,
) -> bool:
    """Run ``sessions`` concurrently until all end; False if Ctrl-C stopped them.

    ``interrupt`` ends the receives in progress (terminating the clients' ZeroMQ context);
    ``redraw`` is called every ``every`` seconds meanwhile, and once at the end. Each
    session's client is closed by the session's own thread as it ends: a ZeroMQ socket
    belongs to one thread at a time.
    """

    # The calling thread waits on an event per session, not on Thread.join: before Python
    # 3.13, a join cut short by Ctrl-C marks a running thread as stopped (bpo-45274's
    # handling), and the session's last result would be read before it is written.
    finished = [threading.Event() for _ in sessions]

    def run_one(session: Session, done: threading.Event) -> None:
        try:
            session.run()
        finally:
            session.client.close()
            done.set()

    threads = [
        threading.Thread(target=run_one, args=(s, done), name=f"session-{i}", daemon=True)
        for i, (s, done) in enumerate(zip(sessions, finished, strict=True))
    ]
    interrupted = False
    try:
        for thread in threads:
            thread.start()
        for done in finished:
            while not done.wait(every if redraw is not None else None):
                if redraw is not None:
                    redraw()
    except KeyboardInterrupt:
        interrupted = True
        for s in sessions:
            s.stop.set()
        interrupt()
        for done, thread in zip(finished, threads, strict=True):
            if thread.ident is not None:  # started
                done.wait()
    if redraw is not None:
        redraw()
    return not interrupted
