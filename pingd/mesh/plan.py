"""When the mesh probes whom: rounds of ``interval`` seconds, each peer once a round at a random
moment of it. Pure: the clock and the random numbers are handed in.

- **Jitter.** Each round draws every peer's moment afresh, uniformly over the round: a fleet
  started together (a rack powered on, a package upgraded everywhere) does not probe in step,
  and no peer is probed by all the others at once.
- **Peers capped.** A round probes at most ``cap`` peers. Above the cap it probes a fresh random
  sample of ``cap``, as Pingmesh samples across racks and pods: every peer is still probed,
  on average once every ``interval × known / cap`` seconds, and each daemon's work stays
  the cap's, however large the link.
- **Probes per second capped.** A round of ``n`` probes lasts at least ``n / rate`` seconds:
  with a short interval and many peers the rounds stretch rather than the rate grow.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Sequence
from typing import Final

#: The most probes a daemon sends in a second, whatever its interval and peers.
MAX_RATE: Final = 50.0


class Plan:
    """The round in progress: which peer is due when."""

    def __init__(self, interval: float, cap: int, rng: random.Random, rate: float = MAX_RATE) -> None:
        self.interval = interval
        self.cap = cap
        self.rate = rate
        self._rng = rng
        self._due: list[tuple[float, str]] = []  # a heap: (when, peer key)
        self.round_ends: float | None = None  # None: no round yet
        self.rounds = 0  # rounds begun
        self.chosen: list[str] = []  # the peers of the round in progress

    def length(self, probes: int) -> float:
        """How long a round of ``probes`` probes lasts."""
        return max(self.interval, probes / self.rate)

    def due(self, now: float, peers: Sequence[str]) -> list[str]:
        """The peers to probe now, in order: what is due of the round in progress, then, once it
        has ended, of the next (with ``peers``, the ones known now). A caller that wakes late
        still gets every probe of the ended round: none is skipped."""
        out = self._take(now)
        if self.round_ends is None or now >= self.round_ends:
            self._start(now, peers)
            out += self._take(now)
        return out

    def _take(self, now: float) -> list[str]:
        out = []
        while self._due and self._due[0][0] <= now:
            out.append(heapq.heappop(self._due)[1])
        return out

    def next_time(self) -> float | None:
        """When something is next due: a probe, or the next round's start."""
        if self._due:
            return self._due[0][0]
        return self.round_ends

    def _start(self, now: float, peers: Sequence[str]) -> None:
        chosen = list(peers) if len(peers) <= self.cap else self._rng.sample(list(peers), self.cap)
        length = self.length(len(chosen)) if chosen else min(self.interval, 1.0)  # none yet: look again soon
        start = now if self.round_ends is None else max(now, self.round_ends)
        self.chosen = chosen
        self.rounds += 1
        self._due = [(start + self._rng.uniform(0, length), key) for key in chosen]
        heapq.heapify(self._due)
        self.round_ends = start + length
