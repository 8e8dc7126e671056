"""The mDNS watcher's refresh schedule (RFC 6762 §5.2)."""

from __future__ import annotations

from pingctl.find import watch


def test_a_watched_record_is_asked_for_again_at_80_85_90_and_95_percent_of_its_life():
    asks, asked = [], 0
    for percent in range(0, 101):
        if watch.refresh_due(percent, asked):
            asked += 1
            asks.append(percent)
    assert asks == [80, 85, 90, 95]
    assert not watch.refresh_due(99, 4)
