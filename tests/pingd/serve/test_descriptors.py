"""Descriptors: the count read without opening one; when they run short, idle peers evicted
(enough for a full listen backlog), requests noted, and what pingd says about it."""

from __future__ import annotations

import logging
import os
import resource

import pytest

from pingd.serve import descriptors, peers


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


class FakeEvictor:
    """Records each round; evicts what it is told to, up to ``idle`` peers."""

    def __init__(self, idle: int = 0) -> None:
        self.idle = idle
        self.rounds: list[tuple[float, bool, int]] = []
        self.watching = False

    def round(self, now: float, watch: bool, wanted: int) -> int:
        self.rounds.append((now, watch, wanted))
        self.watching = watch
        evicted = min(self.idle, max(wanted, 0))
        self.idle -= evicted
        return evicted

    def receive(self, flags: int = 0) -> list[bytes]:
        return []

    def close(self) -> None:
        pass


def test_when_short_idle_peers_are_evicted_to_make_room_for_a_full_backlog(caplog):
    caplog.set_level(logging.INFO, logger="pingd")
    used = [100]
    evictor = FakeEvictor(idle=500)
    watch = descriptors.DescriptorWatch(limit=1000, count=lambda: used[0], evictor=evictor)
    watch.check(0.0)
    assert evictor.rounds[-1] == (0.0, False, 0) and watch.receive is None  # the table is kept up to date
    assert watch.due == descriptors.EVERY
    used[0] = 1000
    watch.check(1.0)
    # Under the 90 % threshold by the listen backlog: a real client queued there gets in.
    assert evictor.rounds[-1] == (1.0, True, 1000 - 900 + descriptors.BACKLOG)
    assert watch.short and watch.receive == evictor.receive  # requests are noted
    assert watch.due == 1.0 + descriptors.SHORT_EVERY
    [warning] = [r.getMessage() for r in caplog.records]
    assert "file descriptors running short: 1000 of 1000 in use; evicting idle peers" in warning
    assert "228 evicted so far" in warning and "raise LimitNOFILE=" in warning
    watch.check(1.1)
    assert len(caplog.records) == 1  # at most one warning a minute


def test_with_nobody_to_evict_the_warning_waits_until_peers_could_have_been_idle(caplog):
    caplog.set_level(logging.WARNING, logger="pingd")
    watch = descriptors.DescriptorWatch(limit=1000, count=lambda: 1000, evictor=FakeEvictor(idle=0))
    watch.check(0.0)  # every peer just connected, or busy
    watch.check(1.0)
    assert not caplog.records
    watch.check(peers.NEW_IDLE + peers.MAX_ALLOWANCE)
    assert "0 evicted so far" in caplog.records[0].getMessage()


def test_the_end_of_a_shortage_is_told_once_with_how_many_were_evicted(caplog):
    caplog.set_level(logging.INFO, logger="pingd")
    used = [1000]
    evictor = FakeEvictor(idle=300)
    watch = descriptors.DescriptorWatch(limit=1000, count=lambda: used[0], evictor=evictor)
    watch.check(10.0)  # 228 evicted
    used[0] = 950
    watch.check(10.1)  # 72 more: the idle ones are all gone
    used[0] = 500
    watch.check(11.0)
    # Plentiful again, but still watched for a while: under a flood, room is refilled at once.
    assert watch.short and evictor.rounds[-1] == (11.0, True, 0)
    watch.check(11.0 + descriptors.CALM)
    assert not watch.short and evictor.rounds[-1][1] is False and watch.receive is None
    ended = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert ended == ["file descriptors no longer short (500 of 1000 in use): 300 idle peers evicted in 6 s"]
    watch.check(30.0)
    assert len(caplog.records) == 2


def test_without_an_evictor_the_warning_says_connections_wait(caplog):
    caplog.set_level(logging.WARNING, logger="pingd")
    watch = descriptors.DescriptorWatch(limit=1000, count=lambda: 990)
    watch.check(0.0)
    assert "new connections wait in the listen backlog" in caplog.records[0].getMessage()
    assert watch.receive is None


def test_an_unknown_count_or_limit_is_never_short():
    for limit, count in ((1000, lambda: None), (resource.RLIM_INFINITY, lambda: 10**9), (0, lambda: 5)):
        evictor = FakeEvictor()
        watch = descriptors.DescriptorWatch(limit=limit, count=count, evictor=evictor)
        watch.check(0.0)
        assert not watch.short and evictor.rounds == [(0.0, False, 0)]


def test_counts_back_off_while_idle_and_come_back_at_once_on_any_change():
    used = [100]
    watch = descriptors.DescriptorWatch(limit=1000, count=lambda: used[0])
    waits, now = [], 0.0
    for _ in range(6):  # idle: no ping, the same count each time
        watch.check(now, quiet=True)
        waits.append(round(watch.due - now, 3))
        now = watch.due
    assert waits == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]  # the first count has nothing to compare with
    assert max(waits) == descriptors.IDLE_EVERY
    used[0] = 101  # one connection: a flood may be starting
    watch.check(now, quiet=True)
    assert watch.due - now == descriptors.EVERY
    watch.check(watch.due, quiet=True)
    assert watch.due - now == 3 * descriptors.EVERY  # unchanged again: backing off anew
    watch.check(now, quiet=False)  # a ping served
    assert watch.due - now == descriptors.EVERY
    used[0] = 950
    watch.check(now, quiet=True)
    assert watch.short and watch.due - now == pytest.approx(descriptors.SHORT_EVERY)
