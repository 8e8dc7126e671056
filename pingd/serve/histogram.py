"""A histogram with fixed buckets, kept by the loop's thread and read by a scrape.

Pure and small on purpose: ``observe`` is a bisect and two additions, cheap beside what it
measures (an fdatasync, a batch of replies), and it is recorded where pingd already works
rather than through a metrics library's objects and locks. The buckets never change and the
list of counts never grows, so another thread may read a snapshot at any moment without a lock:
``snapshot`` copies the counts in one step and derives the total from them, so the cumulative
buckets a scrape reports always agree with the count it reports.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A histogram as read at one moment: Prometheus' cumulative buckets and the sum."""

    #: (upper bound, observations at or below it), the last bound ``inf``.
    buckets: tuple[tuple[float, int], ...]
    total: float

    @property
    def count(self) -> int:
        return self.buckets[-1][1]


class Histogram:
    """Observations counted in buckets with the upper bounds ``bounds`` (and one above them all)."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        if not bounds or list(bounds) != sorted(set(bounds)):
            raise ValueError("bucket bounds must be increasing and not empty")
        self.bounds = tuple(float(b) for b in bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last one: above every bound
        self.total = 0.0

    def observe(self, value: float) -> None:
        """Count ``value`` in the first bucket whose bound is at least ``value``."""
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def snapshot(self) -> Snapshot:
        counts = self.counts.copy()  # one step: the buckets of one moment
        total = self.total
        cumulative, running = [], 0
        for bound, n in zip((*self.bounds, float("inf")), counts, strict=True):
            running += n
            cumulative.append((bound, running))
        return Snapshot(tuple(cumulative), total)


def exponential(start: float, factor: float, count: int) -> tuple[float, ...]:
    """``count`` bucket bounds from ``start``, each ``factor`` times the one before."""
    return tuple(start * factor**i for i in range(count))
