"""The monitor's bench rows read a histogram the way Prometheus' histogram_quantile does."""

from __future__ import annotations

import math

import pytest

from bench.prober import bucketed, quantile

INF = float("inf")


def test_the_quantile_is_interpolated_within_its_bucket():
    cumulative = [(1.0, 0.0), (2.0, 10.0), (4.0, 30.0), (INF, 30.0)]
    assert quantile(0.5, cumulative) == pytest.approx(2.5)  # rank 15: a quarter into (2, 4]
    assert quantile(0.2, cumulative) == pytest.approx(1.6)  # rank 6: 60 % into (1, 2]
    assert quantile(1.0, cumulative) == pytest.approx(4.0)


def test_past_the_last_bound_it_is_the_last_bound_and_empty_is_nan():
    assert quantile(0.99, [(1.0, 1.0), (2.0, 1.0), (INF, 10.0)]) == 2.0
    assert math.isnan(quantile(0.5, [(1.0, 0.0), (INF, 0.0)]))


def test_samples_bucketed_as_the_monitor_buckets_them():
    cumulative = bucketed([40e-6, 300e-6, 300e-6, 20.0])
    assert cumulative[0] == (50e-6, 1.0) and cumulative[-1] == (INF, 4.0)
    assert dict(cumulative)[0.0004] == 3.0
