"""The state file: where the count survives restarts and crashes.

Its format, a JSON object with the count in a fixed-width field at a fixed offset, is
``pingd.serve.statefile`` (re-exported here). Recording a count is then one ``pwrite`` of 20
bytes (about a microsecond, no rename, no allocation), and the bytes are in the kernel's page
cache before the PONG leaves: a SIGKILL at any moment loses no acknowledged ping. ``sync()``
(fdatasync) makes them survive a power cut too; the daemon calls it per batch or at least once
a second, depending on ``--sync``.

A file that cannot be read as a valid state is never overwritten: ``StateFileError`` names
the file and the problem, and the daemon refuses to start.

One pingd per file: ``NAME.lock`` beside the state file (a file that is never renamed or
removed) is locked before the state file is created, read or rewritten, and held while
pingd runs, so two daemons started together on a new path cannot both win. A state file
that is a symbolic link is followed once, at start: pingd then works on the file it points
to and leaves the link in place. A loop of links is refused, and left as it is.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import stat
import time
from pathlib import Path
from typing import Final

from pingd.serve.histogram import Histogram
from pingd.serve.statefile import (
    COUNT_WIDTH,
    FORMAT,
    MAX_SIZE,
    State,
    StateFileError,
    count_offset,
    new_node_id,
    parse,
    render,
)
from pingd.shared import files

__all__ = [
    "COUNT_WIDTH",
    "FORMAT",
    "MAX_SIZE",
    "State",
    "StateFileError",
    "StateStore",
    "new_node_id",
    "parse",
    "render",
]

log = logging.getLogger("pingd")

#: The buckets of ``StateStore.syncs`` (seconds): from a fast SSD's fdatasync (~0.1 ms) to a
#: struggling disk's seconds.
SYNC_BUCKETS: Final = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0
)  # fmt: skip


class StateStore:
    """An open, locked state file. One pingd per file: a second one is refused."""

    def __init__(self, path: Path, fd: int, state: State) -> None:
        self.path = path
        self.node_id = state.node_id
        self.loaded_count = state.count
        self._fd = fd
        self._lock_fd = -1
        self._offset = count_offset(state.node_id)
        self._written = state.count
        self._synced = state.count
        #: How long each fdatasync that worked took (seconds), for the metrics.
        self.syncs = Histogram(SYNC_BUCKETS)

    @classmethod
    def open(cls, path: Path, *, create: bool = True) -> StateStore:
        """Lock, then load (or create, unless ``create`` is false) the state file at ``path``."""
        path = Path(path)
        for parent in path.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise StateFileError(path, f"{parent} is not a directory", "choose another path")
                break
        target = _resolved(path)
        if path.is_symlink():
            log.info("state file %s is a link to %s: using that file", path, target)
            path = target
        if path.is_dir():
            raise StateFileError(path, "is a directory", "give the path of a file inside it")
        if not create and not path.exists():
            raise StateFileError(path, "does not exist", "pingd makes it when it first starts")
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            lock_fd = os.open(_lock_path(path), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StateFileError(path, exc.strerror or str(exc), "check the path and its permissions") from None
        try:
            _lock(lock_fd, path)
            store = cls._open_locked(path, create)
        except BaseException:
            os.close(lock_fd)
            raise
        store._lock_fd = lock_fd
        return store

    @classmethod
    def _open_locked(cls, path: Path, create: bool) -> StateStore:
        """Load (or create) the state file; the caller holds its lock file."""
        try:
            if create and not path.exists():
                files.write_atomically(path, render(new_node_id(), 0))
            fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            raise StateFileError(path, exc.strerror or str(exc), "check the path and its permissions") from None
        try:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):  # a FIFO or a device would block or never end
                raise StateFileError(path, f"is {files.kind_of(mode)}, not a regular file", "give the path of a file")
            _lock(fd, path)  # also keeps out a pingd that predates the lock file
            data = os.pread(fd, MAX_SIZE + 1, 0)
            state = parse(data, path)
            if data != render(state.node_id, state.count):
                # Valid but not in our layout (edited by hand): rewrite it, then use the new file.
                files.write_atomically(path, render(state.node_id, state.count))
                new_fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
                os.close(fd)
                fd = new_fd
                _lock(fd, path)
        except OSError as exc:
            os.close(fd)
            raise StateFileError(path, exc.strerror or str(exc), "check its permissions") from None
        except StateFileError:
            os.close(fd)
            raise
        return cls(path, fd, state)

    @property
    def needs_sync(self) -> bool:
        return self._written != self._synced

    def record(self, count: int) -> None:
        """Hand ``count`` to the operating system. Raises OSError if it would not take it."""
        if os.pwrite(self._fd, b"%-20d" % count, self._offset) != COUNT_WIDTH:
            raise OSError(errno.EIO, "short write to the state file")
        self._written = count

    def sync(self) -> None:
        """Make the recorded count durable (fdatasync). Raises OSError on failure."""
        written = self._written
        started = time.perf_counter()
        os.fdatasync(self._fd)
        self.syncs.observe(time.perf_counter() - started)
        self._synced = written

    def close(self) -> None:
        if self._fd >= 0:
            try:
                if self.needs_sync:
                    self.sync()
            finally:
                os.close(self._fd)  # closing releases the lock
                self._fd = -1
                if self._lock_fd >= 0:
                    os.close(self._lock_fd)
                    self._lock_fd = -1


def _resolved(path: Path) -> Path:
    """``path`` with its links followed. A loop of links anywhere on it is refused: resolved
    leniently, a loop is the path itself, and the new state file made there would replace
    the link."""
    try:
        return Path(os.path.realpath(path, strict=True))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            problem = "its path runs into a loop of symbolic links (or a chain too long to follow)"
            raise StateFileError(path, problem, "point it at a file") from None
    return Path(os.path.realpath(path))  # a new file, or a link to one: made where it points


def _lock_path(path: Path) -> Path:
    return path.with_name(f"{path.name}.lock")


def _lock(fd: int, path: Path) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise StateFileError(
            path, "in use by another pingd", "stop it first, or give this one its own --state-file"
        ) from None
