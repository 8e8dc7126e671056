"""Round-trip statistics, as iputils ping and redis-cli --latency report them. Pure."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


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
