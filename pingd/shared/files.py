"""Reading and writing files that others may race or plant things for: the state file, the
key files, the trust store, the settings.

Every input file is read with ``read_regular``: opened without blocking and without following
a final link where the caller says so, refused unless it is a regular file, and read up to a
bound. A FIFO, a device (``/dev/zero``) or a socket at the path is an error that names what
is there, never a hang and never unbounded memory.

Every file pingd replaces is written to a temporary file beside it and renamed over it, so
a crash leaves the old file or the new one, never half of either. The temporary name is
random and the file is created with ``O_EXCL | O_NOFOLLOW``: it is never an existing file
and never a link someone planted, whoever else can write to the directory. On any failure
(a full disk, an I/O error) the temporary file is removed.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_READ = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


class UnusableFile(OSError):
    """An input path that holds no usable regular file; ``strerror`` says what it holds."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(0, reason, str(path))


def kind_of(mode: int) -> str:
    """What a file of this ``st_mode`` is, in words."""
    for test, words in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISLNK, "a symbolic link"),
    ):
        if test(mode):
            return words
    return "not a regular file"


def read_regular(path: Path, limit: int, *, follow: bool = True) -> bytes:
    """The bytes of the regular file at ``path``, at most ``limit`` of them.

    Opened with ``O_NONBLOCK`` (a FIFO opens at once, so it can be refused rather than wait
    for a writer) and, unless ``follow``, ``O_NOFOLLOW``. Raises ``UnusableFile`` for anything
    but a regular file and for a file over ``limit`` bytes; other OSErrors as ``os.open`` does.
    """
    flags = _READ if follow else _READ | os.O_NOFOLLOW
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if not follow and exc.errno == errno.ELOOP and os.path.islink(path):
            raise UnusableFile(path, "is a symbolic link; it must be a regular file") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnusableFile(path, f"is {kind_of(info.st_mode)}, not a regular file")
        if info.st_size > limit:
            raise UnusableFile(path, f"is larger than {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:  # grew while being read
            raise UnusableFile(path, f"is larger than {limit} bytes")
        return b"".join(chunks)
    finally:
        os.close(fd)


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
