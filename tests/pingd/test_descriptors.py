"""Descriptors: the count read without opening one, and a warning when they run short."""

from __future__ import annotations

import logging
import os
import resource

from pingd import descriptors


def test_open_count_matches_the_fd_directory():
    assert descriptors.open_count() == len(os.listdir("/proc/self/fd")) - 1


def test_raising_the_soft_limit_stops_at_the_hard_one():
    soft, hard = descriptors.raise_soft_limit()
    assert (soft, hard) == resource.getrlimit(resource.RLIMIT_NOFILE)
    assert soft == hard or hard == resource.RLIM_INFINITY


def test_a_short_supply_is_reported_at_most_once_a_minute(caplog):
    caplog.set_level(logging.WARNING, logger="pingd")
    used = [100]
    watch = descriptors.DescriptorWatch(limit=1000, count=lambda: used[0])
    watch.check(0.0)
    assert not watch.short and not caplog.records
    used[0] = 950
    watch.check(1.0)
    watch.check(2.0)
    assert watch.short and len(caplog.records) == 1
    assert "950 of 1000 in use" in caplog.records[0].getMessage()
    watch.check(1.0 + descriptors.WARN_EVERY)
    assert len(caplog.records) == 2
