"""Writing files that others may race or plant links for: the state file, the key files.

Every file pingd replaces is written to a temporary file beside it and renamed over it, so
a crash leaves the old file or the new one, never half of either. The temporary name is
random and the file is created with ``O_EXCL | O_NOFOLLOW``: it is never an existing file
and never a link someone planted, whoever else can write to the directory. On any failure
(a full disk, an I/O error) the temporary file is removed.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def create_exclusive(path: Path, mode: int) -> int:
    """A new file at ``path`` (never an existing file, never through a link); its fd."""
    return os.open(path, _CREATE, mode)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _write_temporary(path: Path, data: bytes, mode: int) -> Path:
    """``data`` in a new, fsynced temporary file beside ``path`` (removed if writing fails)."""
    for _ in range(16):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = create_exclusive(tmp, mode)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(f"no free temporary name beside {path}")
    try:
        try:
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        _remove(tmp)
        raise
    return tmp


def _remove(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def write_atomically(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data``, durably (file and directory fsynced)."""
    tmp = _write_temporary(path, data, mode)
    try:
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
    fsync_directory(path.parent)


def publish_exclusive(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` holding ``data`` complete or not at all; FileExistsError if it exists
    (two processes making it at once: one wins, the other reads the winner's)."""
    tmp = _write_temporary(path, data, mode)
    try:
        os.link(tmp, path)  # unlike rename, never replaces an existing file
    finally:
        _remove(tmp)
    fsync_directory(path.parent)
