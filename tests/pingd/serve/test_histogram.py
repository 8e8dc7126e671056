"""The fixed-bucket histogram the loop and the store keep for the metrics (pingd.serve.histogram)."""

from __future__ import annotations

import math
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pingd.serve.histogram import Histogram, exponential


def test_a_value_counts_in_the_first_bucket_whose_bound_is_at_least_it() -> None:
    h = Histogram((1, 2, 4))
    for value in (0.5, 1, 1.5, 4, 4.5, 100):
        h.observe(value)
    snap = h.snapshot()
    assert snap.buckets == ((1.0, 2), (2.0, 3), (4.0, 4), (math.inf, 6))
    assert snap.count == 6 and snap.total == pytest.approx(111.5)


@given(st.lists(st.floats(min_value=0, max_value=1e3, allow_nan=False), max_size=50))
def test_buckets_are_cumulative_and_end_with_the_count(values: list[float]) -> None:
    bounds = exponential(0.001, 10, 6)
    h = Histogram(bounds)
    for value in values:
        h.observe(value)
    snap = h.snapshot()
    assert [b for b, _ in snap.buckets] == [*bounds, math.inf]
    for bound, cumulative in snap.buckets:
        assert cumulative == sum(v <= bound for v in values)
    assert snap.count == len(values) and snap.total == pytest.approx(sum(values))


@pytest.mark.parametrize("bounds", [(), (2, 1), (1, 1)])
def test_bounds_must_increase(bounds: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="increasing"):
        Histogram(bounds)


def test_exponential_bounds() -> None:
    assert exponential(1, 2, 4) == (1, 2, 4, 8)


def test_a_snapshot_read_while_another_thread_observes_is_always_consistent() -> None:
    """What a scrape reads on its own thread: cumulative counts that never decrease, ending in
    the count, whatever the observing thread is doing."""
    h = Histogram((1, 2))
    stop = threading.Event()

    def observe() -> None:
        while not stop.is_set():
            for value in (0.5, 1.5, 3):
                h.observe(value)

    thread = threading.Thread(target=observe)
    thread.start()
    try:
        last = 0
        for _ in range(2000):
            snap = h.snapshot()
            counts = [n for _, n in snap.buckets]
            assert counts == sorted(counts) and snap.count == counts[-1] >= last
            last = snap.count
    finally:
        stop.set()
        thread.join()
    assert last > 0
