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


ONE_TWO_FIVE_MS = [
    *(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5),
    *(1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0),
    *(1000.0, 2000.0, 5000.0, 10000.0, 20000.0, 50000.0, 100000.0),
]


def test_the_histogram_runs_from_1_microsecond_to_100_seconds_in_a_1_2_5_series():
    buckets = stats.histogram([0.0, 250_000.0])  # nothing, and a round trip of over four minutes
    assert [b.low for b in buckets] == [0.0, *ONE_TWO_FIVE_MS]
    assert [b.high for b in buckets] == [*ONE_TWO_FIVE_MS, math.inf]
    assert [b.count for b in buckets] == [1] + [0] * 24 + [1]


@pytest.mark.parametrize(
    "rtt, bucket",
    [
        (0.0, (0.0, 0.001)),
        (0.001, (0.0, 0.001)),  # a bucket holds its upper edge
        (0.0011, (0.001, 0.002)),
        (1.0, (0.5, 1.0)),
        (75_000.0, (50_000.0, 100_000.0)),
        (100_000.0, (50_000.0, 100_000.0)),
        (100_000.1, (100_000.0, math.inf)),
    ],
)
def test_each_round_trip_falls_in_the_bucket_that_holds_its_upper_edge(rtt, bucket):
    assert stats.histogram([rtt]) == [stats.Bucket(*bucket, 1)]


def test_percentiles_of_0_and_100_are_the_extremes_and_nothing_outside_is_one():
    ordered = [1.0, 2.0, 4.0]
    assert (stats.percentile(ordered, 0), stats.percentile(ordered, 100)) == (1.0, 4.0)
    for q, message in ((-0.1, "q must be within 0..100"), (100.1, "q must be within 0..100")):
        with pytest.raises(ValueError) as info:
            stats.percentile(ordered, q)
        assert str(info.value) == message
    with pytest.raises(ValueError) as info:
        stats.percentile([], 50)
    assert str(info.value) == "percentile of no data"


def test_a_summary_keeps_the_time_and_the_round_trip_figures():
    summary = stats.summarise(3, [1.0, 3.0], 0.25)
    assert summary == stats.Summary(sent=3, received=2, total_seconds=0.25, rtt=stats.rtt_stats([1.0, 3.0]))
    assert summary.rtt is not None and (summary.rtt.min, summary.rtt.avg, summary.rtt.max) == (1.0, 2.0, 3.0)
    with pytest.raises(ValueError) as info:
        stats.summarise(1, [1.0, 2.0], 0.0)
    assert str(info.value) == "more replies than pings sent"


def test_the_figures_json_shows_are_to_a_tenth_of_a_microsecond_in_field_order():
    figures = stats.rtt_stats([0.123456, 0.123456])
    assert figures is not None
    assert figures.as_dict() == {
        "min": 0.1235,
        "avg": 0.1235,
        "max": 0.1235,
        "mdev": 0.0,
        "p50": 0.1235,
        "p90": 0.1235,
        "p99": 0.1235,
    }
    assert list(figures.as_dict()) == ["min", "avg", "max", "mdev", "p50", "p90", "p99"]
