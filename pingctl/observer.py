"""What one ping session has seen, kept once: the one record every view of a session reads.

A session hands each result to its ``Observer`` as it comes (``record``). The observer keeps
the result, in order, once; the running figures (``pingctl.stats.Running``, pure) and the
server's last count are kept up to date from it. Every view reads from here and nowhere else:

- the live view of ``pingctl ping`` is the observer's ``listener``, told of each result as it
  is recorded (a pong line, the progress bar);
- the ``--all`` board and SIGQUIT's interim lines read ``figures`` from the drawing thread;
- the summary, the histogram, ``--json`` and ``--samples`` read ``summary``, ``rtts`` and
  ``results`` once the session has ended.

One writer (the session's thread), readers on any thread, and neither ever waits for the
other. After each result the writer publishes the figures as one tuple, which a reader picks
up in one step (one attribute read), so it never sees a result half taken in (sent counted,
received not yet). No lock on the hot path (a lock's acquire and release cost about as much
again as taking the result in), and SIGQUIT's handler, which runs on the main thread wherever
that thread is, cannot deadlock on one. The results list only grows, so a copy of it is
consistent too. Sorting for the median is left to the one reader that shows it (the board,
``figures(p50=True)``): the hot path never sorts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from pingctl.model import PingResult
from pingctl.stats import Ordered, Running, RunningState, Summary, summarise

#: Told of each result as it is recorded: its index in the session (1, 2, …) and the result.
Listener = Callable[[int, PingResult], None]


@dataclass(frozen=True, slots=True)
class Figures:
    """A session's figures at one moment, consistent with each other."""

    running: Running  # a copy of its own: the observer's goes on changing
    last_count: int | None  # the count in the latest pong: the server's, after this session's pings
    p50: float | None = None  # only when asked for, and None until a pong came


class Observer:
    """One session's results, kept once, and the figures derived from them."""

    def __init__(self, listener: Listener | None = None) -> None:
        #: Told of each recorded result, on the session's thread.
        self.listener = listener
        self._results: list[PingResult] = []
        self._running = Running()  # the writer's own
        self._last_count: int | None = None
        #: What readers see: the Running's state and the last count, replaced whole per result.
        self._published: tuple[RunningState, int | None] = (self._running.state(), None)
        self._ordered = Ordered()  # the round trips sorted so far, for the median
        self._sorted_results = 0  # how many results those came from
        self._sorting = threading.Lock()  # readers asking for the median, one at a time

    def record(self, index: int, result: PingResult, *, show: bool = True) -> None:
        """Take in the result of the session's ``index``-th ping, and tell the listener (unless
        not to ``show`` it). Called by the session's thread only."""
        self._results.append(result)
        running = self._running
        # An error reply has a round trip but is no pong: like a timeout, sent and lost.
        running.add(result.rtt_ms if result.error is None else None)
        if result.count is not None:
            self._last_count = result.count
        self._published = (running.state(), self._last_count)
        listener = self.listener
        if show and listener is not None:
            listener(index, result)

    def cut_off(self, result: PingResult) -> None:
        """Take in a ping cut off by the session's end: transmitted and lost, as ping counts
        it, but not shown (the session is over)."""
        self.record(result.seq, result, show=False)

    def figures(self, *, p50: bool = False) -> Figures:
        """The figures so far; with ``p50``, the median round trip of the same results too
        (which sorts in what came since the last time it was asked for)."""
        state, last_count = self._published
        running = Running(*state)
        if not p50:
            return Figures(running, last_count)
        with self._sorting:
            new = self._results[self._sorted_results : running.sent]
            self._sorted_results += len(new)
            self._ordered.extend(_rtts(new))
            return Figures(running, last_count, self._ordered.percentile(50))

    @property
    def last_count(self) -> int | None:
        """The server's count in the latest pong; None before the first."""
        return self._published[1]

    @property
    def answered(self) -> bool:
        """Whether any pong came back."""
        received = self._published[0][1]  # RunningState is in Running's field order
        return received > 0

    def results(self) -> list[PingResult]:
        """Every result so far, in the order the pings went out."""
        return list(self._results)

    def rtts(self) -> list[float]:
        """The round trips of the pings that got a pong, in ms, in the order they came."""
        return _rtts(self.results())

    def summary(self, elapsed: float) -> Summary:
        """ping's end-of-session statistics, for a session that ran ``elapsed`` seconds."""
        results = self.results()  # one copy: the count sent and the round trips agree
        return summarise(len(results), _rtts(results), elapsed)


def _rtts(results: list[PingResult]) -> list[float]:
    return [r.rtt_ms for r in results if r.rtt_ms is not None and r.error is None]
