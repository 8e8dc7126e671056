"""Getting the count to the operating system, and to the disk, and what to do when that fails.

The daemon's loop asks ``commit()`` after the actor has counted a batch and before any PONG
leaves: the new count is handed to the operating system (one ``pwrite``), and with
``--sync always`` made durable too (one ``fdatasync`` for the whole batch: group commit). If
that fails, the actor rolls back, so the pings of the batch are refused, never counted; the
failure is logged once, shown in the status, and retried every ``STORAGE_RETRY`` seconds
until it works, with or without traffic. With ``--sync periodic`` the count reaches the disk
``SYNC_DELAY`` after it was first written.

Pure of clocks and sockets: the time comes from ``tick(now)`` and an injected clock, the
store is anything with ``record``, ``sync`` and ``needs_sync``, so every rule is unit-tested
in milliseconds.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final, Protocol

from pingd.serve.counter import CounterActor

log = logging.getLogger("pingd")

#: In periodic mode, a recorded count reaches the disk this long after it was written, at most.
SYNC_DELAY: Final = 0.5
#: How often to retry persisting while storage is failing and no request forces it.
STORAGE_RETRY: Final = 1.0


class Store(Protocol):
    path: Path

    @property
    def needs_sync(self) -> bool: ...
    def record(self, count: int) -> None: ...
    def sync(self) -> None: ...


class Persistence:
    def __init__(
        self,
        store: Store,
        actor: CounterActor,
        *,
        always: bool,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.actor = actor
        self.always = always
        self._clock = clock
        self._on_change = on_change  # storage failed or recovered: the status line changes
        self._dirty_since: float | None = None
        self._retry_at: float | None = None
        #: Writes and syncs of the state file that failed, since start (for the metrics).
        self.failures = 0

    def commit(self) -> bool:
        """Hand the actor's count to the operating system (and the disk, if asked).
        False if that failed: the actor has rolled back and the batch must be refused."""
        actor = self.actor
        try:
            self.store.record(actor.count)
            if self.always or actor.storage_error is not None:
                self.store.sync()
        except OSError as exc:
            actor.rollback()
            self._failed(exc)
            return False
        actor.commit()
        if self._dirty_since is None and self.store.needs_sync:
            self._dirty_since = self._clock()
        if actor.storage_error is not None:
            self._recovered()
        return True

    @property
    def due(self) -> float:
        """When ``tick`` next has something to do (math.inf: nothing pending), so that an idle
        loop can sleep until then."""
        sync = self._dirty_since + SYNC_DELAY if self._dirty_since is not None else math.inf
        return min(sync, self._retry_at if self._retry_at is not None else math.inf)

    def tick(self, now: float) -> None:
        """The periodic sync and the storage retry, when they are due."""
        if self._dirty_since is not None and now >= self._dirty_since + SYNC_DELAY:
            try:
                self.store.sync()
            except OSError as exc:
                self._failed(exc)
            else:
                self._dirty_since = None
        if self._retry_at is not None and now >= self._retry_at:
            try:
                self.store.record(self.actor.committed)
                self.store.sync()
            except OSError as exc:
                self._failed(exc)
            else:
                self._recovered()

    def _failed(self, exc: OSError) -> None:
        self.failures += 1
        # What clients see (error replies, STATUS) names no path; the log has the detail.
        reason = f"cannot write the state file: {exc.strerror or exc}"
        if self.actor.storage_error != reason:
            log.error("cannot write %s: %s; refusing pings until it works again", self.store.path, exc.strerror or exc)
            self.actor.storage_error = reason
            self._on_change()
        self._retry_at = self._clock() + STORAGE_RETRY

    def _recovered(self) -> None:
        log.warning("state file writable again; counting resumes at %d", self.actor.committed)
        self.actor.storage_error = None
        self._retry_at = None
        self._dirty_since = None
        self._on_change()
