"""The round-trip histogram's buckets, one layout for every RTT pingd's programs export:
``pingctl monitor``'s probes of daemons and pingd's mesh probes of its peers. Two views of the
same fleet read with the same bounds can be compared bucket for bucket in one query.
"""

from __future__ import annotations

from typing import Final


def exponential_buckets(start: float, factor: float, reach: float) -> tuple[float, ...]:
    """Upper bounds ``start``, ``start * factor``, ``start * factor²``... up to the first at or
    past ``reach``, each to four significant digits (labels an operator can read: ``0.0001``,
    not ``9.999999999999999e-05``)."""
    bounds = [start]
    while bounds[-1] < reach:
        bounds.append(float(f"{start * factor ** len(bounds):.4g}"))
    return tuple(bounds)


#: From smokeping_prober's first bound (50 µs), four to a doubling, as far as the first bound
#: past 10 s: 72 bounds, the last 11.0 s. A quantile read from a histogram (histogram_quantile)
#: is exact only to its bucket: with smokeping_prober's doubling layout a median can read up to
#: a third off the truth (loopback's 100-300 µs fall in two buckets), with a ratio of 2^(1/4)
#: within about 10 %. The cost: about 80 series per daemon rather than 27.
PER_DOUBLING: Final = 4
RTT_BUCKETS: Final = exponential_buckets(50e-6, 2 ** (1 / PER_DOUBLING), 10.0)
