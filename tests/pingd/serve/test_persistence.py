"""Persisting the count: group commit, periodic sync, failure, retry and recovery, against a
fake store and a fake clock (milliseconds, not seconds)."""

from __future__ import annotations

import errno
import logging
import math
from collections.abc import Callable
from pathlib import Path

import pytest

from pingd.serve import persistence
from pingd.serve.counter import CounterActor, Identity
from pingd.serve.persistence import Persistence


class FakeStore:
    path = Path("/state/state.json")

    def __init__(self) -> None:
        self.recorded: list[int] = []
        self.synced: list[int] = []
        self.failing: str | None = None  # "record" or "sync"

    @property
    def needs_sync(self) -> bool:
        return (self.recorded[-1] if self.recorded else None) != (self.synced[-1] if self.synced else None)

    def record(self, count: int) -> None:
        if self.failing == "record":
            raise OSError(errno.ENOSPC, "No space left on device")
        self.recorded.append(count)

    def sync(self) -> None:
        if self.failing in ("record", "sync"):
            raise OSError(errno.EIO, "Input/output error")
        self.synced.append(self.recorded[-1])


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


World = tuple[Callable[..., Persistence], FakeStore, CounterActor, Clock, list[str | None]]


@pytest.fixture
def world() -> World:
    store, clock = FakeStore(), Clock()
    actor = CounterActor(count=0, identity=Identity("n", "box", "1", "periodic"), started_at=0.0)
    changes: list[str | None] = []

    def make(always: bool = False) -> Persistence:
        return Persistence(
            store, actor, always=always, clock=clock, on_change=lambda: changes.append(actor.storage_error)
        )

    return make, store, actor, clock, changes


def test_always_syncs_once_per_commit_however_many_pings(world: World) -> None:
    make, store, actor, clock, _ = world
    p = make(always=True)
    for _ in range(5):
        actor.ping()
    assert p.commit()
    assert store.recorded == [5] and store.synced == [5] and actor.committed == 5


def test_periodic_writes_now_and_syncs_once_the_delay_has_passed(world: World) -> None:
    make, store, actor, clock, _ = world
    p = make()
    actor.ping()
    assert p.commit()
    assert store.recorded == [1] and store.synced == []
    clock.now = persistence.SYNC_DELAY - 0.01
    p.tick(clock.now)
    assert store.synced == []
    clock.now = persistence.SYNC_DELAY
    p.tick(clock.now)
    assert store.synced == [1]
    p.tick(clock.now + 5)
    assert store.synced == [1]  # nothing new: no second sync


def test_a_failed_write_rolls_back_is_reported_once_and_retried_without_traffic(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    make, store, actor, clock, changes = world
    caplog.set_level(logging.ERROR, logger="pingd")
    p = make()
    actor.ping()
    assert p.commit()
    store.failing = "record"
    actor.ping()
    assert not p.commit()
    assert actor.count == 1 and actor.committed == 1  # the refused ping was never counted
    assert actor.storage_error == "cannot write the state file: No space left on device"
    assert "/state/state.json" in caplog.text and "/state" not in actor.storage_error
    actor.ping()
    assert not p.commit()
    assert changes == [actor.storage_error]  # reported once, not per batch
    p.tick(clock.now + persistence.STORAGE_RETRY - 0.01)
    assert actor.storage_error is not None
    store.failing = None
    clock.now += persistence.STORAGE_RETRY
    p.tick(clock.now)  # no request needed: the retry itself recovers
    assert actor.storage_error is None and changes[-1] is None
    assert store.synced[-1] == 1
    actor.ping()
    assert p.commit() and actor.committed == 2


def test_a_failed_periodic_sync_is_a_storage_failure_too(world: World) -> None:
    make, store, actor, clock, changes = world
    p = make()
    actor.ping()
    p.commit()
    store.failing = "sync"
    clock.now = persistence.SYNC_DELAY
    p.tick(clock.now)
    assert actor.storage_error == "cannot write the state file: Input/output error"
    store.failing = None
    clock.now += persistence.STORAGE_RETRY
    p.tick(clock.now)
    assert actor.storage_error is None and store.synced[-1] == 1


def test_while_failing_every_commit_syncs_to_prove_storage_works_again(world: World) -> None:
    make, store, actor, clock, _ = world
    p = make()
    store.failing = "record"
    actor.ping()
    assert not p.commit()
    store.failing = None
    actor.ping()
    assert p.commit()
    assert store.synced == [1] and actor.storage_error is None


def test_due_says_when_tick_has_something_to_do(world: World) -> None:
    make, store, actor, clock, _ = world
    p = make()
    assert p.due == math.inf  # nothing written: an idle loop may sleep
    clock.now = 3.0
    actor.ping()
    assert p.commit()
    assert p.due == 3.0 + persistence.SYNC_DELAY
    p.tick(p.due)
    assert p.due == math.inf  # synced
    store.failing = "record"
    actor.ping()
    assert not p.commit()
    assert p.due == 3.0 + persistence.STORAGE_RETRY  # the retry, with or without traffic
