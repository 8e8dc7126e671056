import math
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pingctl import stats

samples = st.lists(st.floats(0.001, 10_000, allow_nan=False), min_size=1, max_size=300)


@given(samples)
def test_agrees_with_the_statistics_module(xs):
    r = stats.rtt_stats(xs)
    assert r.min == min(xs) and r.max == max(xs)
    assert math.isclose(r.avg, statistics.fmean(xs), rel_tol=1e-9)
    assert math.isclose(r.mdev, statistics.pstdev(xs), rel_tol=1e-6, abs_tol=1e-6)
    q = statistics.quantiles(xs, n=100, method="inclusive") if len(xs) > 1 else [xs[0]] * 99
    assert math.isclose(r.p50, q[49], rel_tol=1e-9)
    assert math.isclose(r.p90, q[89], rel_tol=1e-9)
    assert math.isclose(r.p99, q[98], rel_tol=1e-9)
    assert r.min <= r.p50 <= r.p90 <= r.p99 <= r.max


def test_ping_style_figures():
    r = stats.rtt_stats([1.0, 2.0, 3.0, 4.0])
    assert (r.min, r.avg, r.max) == (1.0, 2.5, 4.0)
    assert r.p50 == 2.5
    assert math.isclose(r.mdev, math.sqrt(1.25))


def test_summary_counts_loss():
    s = stats.summarise(4, [1.0, 2.0, 3.0], 0.5)
    assert (s.sent, s.received, s.lost, s.loss_percent) == (4, 3, 1, 25.0)
    assert stats.summarise(2, [], 1.0).rtt is None
    assert stats.summarise(0, [], 0.0).loss_percent == 0.0
    with pytest.raises(ValueError):
        stats.summarise(1, [1.0, 2.0], 0.0)


def test_percentile_rejects_nonsense():
    with pytest.raises(ValueError):
        stats.percentile([], 50)
    with pytest.raises(ValueError):
        stats.percentile([1.0], 101)


@given(samples)
def test_histogram_buckets_add_up_and_contain_their_samples(xs):
    buckets = stats.histogram(xs)
    assert sum(b.count for b in buckets) == len(xs)
    assert buckets[0].count > 0 and buckets[-1].count > 0
    for x in xs:
        owners = [b for b in buckets if b.low < x <= b.high or (b.low == 0 and x == 0)]
        assert len(owners) == 1
    assert all(a.high == b.low for a, b in zip(buckets, buckets[1:], strict=False))


def test_histogram_is_log_spaced():
    buckets = stats.histogram([0.15, 0.15, 0.3, 7.0])
    assert [(b.low, b.high, b.count) for b in buckets] == [
        (0.1, 0.2, 2),
        (0.2, 0.5, 1),
        (0.5, 1.0, 0),
        (1.0, 2.0, 0),
        (2.0, 5.0, 0),
        (5.0, 10.0, 1),
    ]
    assert stats.histogram([]) == []


@given(st.lists(st.one_of(st.none(), st.floats(0.001, 10_000)), max_size=200))
def test_running_stats_agree_with_the_batch_ones(values):
    running = stats.Running()
    for v in values:
        running.add(v)
    rtts = [v for v in values if v is not None]
    assert (running.sent, running.received) == (len(values), len(rtts))
    batch = stats.rtt_stats(rtts)
    if batch is None:
        assert running.received == 0
        return
    assert running.min == batch.min and running.max == batch.max
    assert math.isclose(running.mean, batch.avg, rel_tol=1e-9)
    assert math.isclose(running.mdev, batch.mdev, rel_tol=1e-6, abs_tol=1e-6)
    assert running.last == rtts[-1]


@given(st.lists(st.lists(st.floats(0.001, 10_000), max_size=20), max_size=10))
def test_ordered_samples_added_in_batches_give_the_batch_percentiles(batches):
    ordered = stats.Ordered()
    everything: list[float] = []
    for batch in batches:
        ordered.extend(batch)
        everything += batch
    assert ordered.values == sorted(everything)
    expected = stats.percentile(sorted(everything), 50) if everything else None
    assert ordered.percentile(50) == expected
