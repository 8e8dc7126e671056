"""The one RTT bucket layout, shared by pingctl monitor and pingd's mesh."""

import pytest

from pingd.shared.buckets import RTT_BUCKETS, exponential_buckets


def test_the_buckets_run_from_50_us_four_to_a_doubling_to_the_first_past_10_s():
    assert RTT_BUCKETS[0] == 50e-6
    ratios = [b / a for a, b in zip(RTT_BUCKETS, RTT_BUCKETS[1:], strict=False)]
    assert all(r == pytest.approx(2**0.25, rel=1e-3) for r in ratios)
    assert RTT_BUCKETS[4::4][:3] == (1e-4, 2e-4, 4e-4)  # every fourth an exact doubling
    assert RTT_BUCKETS[-2] < 10 <= RTT_BUCKETS[-1]
    assert len(RTT_BUCKETS) == 72 and RTT_BUCKETS[-1] == 11.02
    assert exponential_buckets(1, 3, 9) == (1, 3, 9)
    assert exponential_buckets(1, 2**0.5, 2) == (1, 1.414, 2)  # four significant digits
