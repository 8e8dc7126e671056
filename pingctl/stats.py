"""Round-trip statistics, as iputils ping and redis-cli --latency report them. Pure."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RttStats:
    """Milliseconds. ``mdev`` is ping's: sqrt(mean(x²) - mean(x)²), the population deviation."""

    min: float
    avg: float
    max: float
    mdev: float
    p50: float
    p90: float
    p99: float

    def as_dict(self) -> dict[str, float]:
        return {k: round(getattr(self, k), 4) for k in self.__slots__}


@dataclass(frozen=True, slots=True)
class Summary:
    sent: int
    received: int
    total_seconds: float
    rtt: RttStats | None  # None when nothing came back

    @property
    def lost(self) -> int:
        return self.sent - self.received

    @property
    def loss_percent(self) -> float:
        return 100.0 * self.lost / self.sent if self.sent else 0.0


def percentile(ordered: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of sorted data, interpolating linearly between ranks
    (numpy's default), so p50 of an even count is the mean of the middle two."""
    if not ordered:
        raise ValueError("percentile of no data")
    if not 0 <= q <= 100:
        raise ValueError("q must be within 0..100")
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    fraction = position - low
    return ordered[low] + (ordered[high] - ordered[low]) * fraction


def rtt_stats(rtts_ms: Sequence[float]) -> RttStats | None:
    if not rtts_ms:
        return None
    ordered = sorted(rtts_ms)
    n = len(ordered)
    mean = math.fsum(ordered) / n
    # Equal to ping's sqrt(mean(x²) - mean(x)²), computed without its cancellation error.
    variance = math.fsum((x - mean) ** 2 for x in ordered) / n
    return RttStats(
        min=ordered[0],
        avg=mean,
        max=ordered[-1],
        mdev=math.sqrt(variance),
        p50=percentile(ordered, 50),
        p90=percentile(ordered, 90),
        p99=percentile(ordered, 99),
    )


def summarise(sent: int, rtts_ms: Sequence[float], total_seconds: float) -> Summary:
    if len(rtts_ms) > sent:
        raise ValueError("more replies than pings sent")
    return Summary(sent=sent, received=len(rtts_ms), total_seconds=total_seconds, rtt=rtt_stats(rtts_ms))


@dataclass(frozen=True, slots=True)
class Bucket:
    """Round trips with low < rtt ≤ high (milliseconds); the first bucket also holds rtt = 0."""

    low: float
    high: float
    count: int


def _edges() -> list[float]:
    """Log-spaced bucket edges in a 1-2-5 series, 1 µs to 100 s."""
    edges = []
    for exponent in range(-3, 5):
        for mantissa in (1, 2, 5):
            edges.append(mantissa * 10.0**exponent)
    return edges + [1e5]


def histogram(rtts_ms: Sequence[float]) -> list[Bucket]:
    """The latency distribution in log-spaced buckets, from the first non-empty bucket to the
    last (empty buckets in between are kept, so the shape reads true). Counts add up to
    len(rtts_ms)."""
    if not rtts_ms:
        return []
    import bisect

    edges = _edges()  # per call (25 numbers): a constant made at import is out of make mutate's reach
    counts = [0] * (len(edges) + 1)
    for x in rtts_ms:
        counts[bisect.bisect_left(edges, x)] += 1
    lows = (0.0, *edges)
    highs = (*edges, math.inf)
    used = [i for i, c in enumerate(counts) if c]
    return [Bucket(lows[i], highs[i], counts[i]) for i in range(used[0], used[-1] + 1)]


#: A ``Running``'s figures as one value, in field order: ``Running(*state)`` rebuilds them.
RunningState = tuple[int, int, float, float, float, float, float | None]


@dataclass(slots=True)
class Running:
    """Statistics kept up to date one sample at a time (O(1) each), for live views and
    interim reports; Welford's method keeps the deviation exact without storing samples."""

    sent: int = 0
    received: int = 0
    min: float = math.inf
    max: float = 0.0
    mean: float = 0.0
    _m2: float = 0.0
    last: float | None = None

    def add(self, rtt_ms: float | None) -> None:
        """One ping sent; ``rtt_ms`` is None when no pong came back for it."""
        self.sent += 1
        if rtt_ms is None:
            return
        self.received += 1
        self.last = rtt_ms
        self.min = min(self.min, rtt_ms)
        self.max = max(self.max, rtt_ms)
        delta = rtt_ms - self.mean
        self.mean += delta / self.received
        self._m2 += delta * (rtt_ms - self.mean)

    def state(self) -> RunningState:
        """The figures as one immutable value, which ``Running(*state)`` makes a copy from."""
        return (self.sent, self.received, self.min, self.max, self.mean, self._m2, self.last)

    @property
    def mdev(self) -> float:
        return math.sqrt(self._m2 / self.received) if self.received else 0.0

    @property
    def loss_percent(self) -> float:
        return 100.0 * (self.sent - self.received) / self.sent if self.sent else 0.0


@dataclass(slots=True)
class Ordered:
    """Samples kept sorted, for percentiles of a series that grows while it is shown. New ones
    come in batches and the list is re-sorted in place: Timsort merges the sorted run with a
    short new one in linear time, so a live view pays per redraw, not per sample."""

    values: list[float] = field(default_factory=list)

    def extend(self, new: Sequence[float]) -> None:
        if new:
            self.values.extend(new)
            self.values.sort()

    def percentile(self, q: float) -> float | None:
        return percentile(self.values, q) if self.values else None
