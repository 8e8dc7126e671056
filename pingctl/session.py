"""A ping session: ``count`` pings ``interval`` seconds apart, each result handed on as it comes.

Pings are sent on a fixed schedule (start + i × interval), as ping does; the wait between
pings is never part of a round trip. A ping that times out is lost, not repeated.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pingctl.client import PingClient, PingResult
from pingctl.stats import Summary, summarise


@dataclass
class Session:
    client: PingClient
    count: int  # 0: until stopped
    interval: float
    deadline: float | None = None  # seconds from the start, whatever the count
    on_result: Callable[[int, PingResult], None] = lambda index, result: None
    results: list[PingResult] = field(default_factory=list)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _started: float | None = None
    _ended: float | None = None

    def run(self) -> None:
        self._started = start = self.clock()
        try:
            if self.interval == 0 and self.deadline is None:
                self._flat_out()
            else:
                self._paced(start)
        finally:
            self._ended = self.clock()

    def _flat_out(self) -> None:
        """Each ping right after the last reply: no clock, no schedule between them."""
        indexes = itertools.count(1) if self.count == 0 else range(1, self.count + 1)
        for index in indexes:
            self._ping(index)

    def _paced(self, start: float) -> None:
        index = 0
        while self.count == 0 or index < self.count:
            if self.deadline is not None and self.clock() - start >= self.deadline:
                break
            if index:
                wait = start + index * self.interval - self.clock()
                if self.deadline is not None:
                    wait = min(wait, start + self.deadline - self.clock())
                if wait > 0:
                    self.sleep(wait)
                if self.deadline is not None and self.clock() - start >= self.deadline:
                    break
            index += 1
            self._ping(index)

    def _ping(self, index: int) -> None:
        try:
            result = self.client.ping()
        except KeyboardInterrupt:
            if getattr(self.client, "in_flight", False):
                # Sent and not answered: transmitted and lost, as ping counts it.
                self.results.append(PingResult(self.client.last_seq))
            raise
        self.results.append(result)
        self.on_result(index, result)

    @property
    def elapsed(self) -> float:
        if self._started is None:
            return 0.0
        end = self._ended if self._ended is not None else self.clock()
        return end - self._started

    def rtts(self) -> list[float]:
        """The round trips of the pings that got a PONG, in ms."""
        return [r.rtt_ms for r in self.results if r.rtt_ms is not None and r.error is None]

    def summary(self) -> Summary:
        return summarise(len(self.results), self.rtts(), self.elapsed)

    @property
    def last_count(self) -> int | None:
        for result in reversed(self.results):
            if result.count is not None:
                return result.count
        return None
