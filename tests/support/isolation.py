"""A network namespace of its own for each test worker, so that parallel workers never meet.

`make test` runs the suite in two worker processes (pytest-xdist) when it runs as root. Many
tests announce and browse mDNS on 127.0.0.1, and count what they find there: two workers
sharing one loopback would see each other's daemons. Each worker therefore moves, before its
first test, into a fresh network namespace with only ``lo`` up; every daemon, client and
``ip netns exec`` it starts goes from there. Namespaces that tests make by name (test hosts,
the systemd box) are unaffected: they are made beside it, not inside it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess
from collections.abc import Iterator

CLONE_NEWNET = 0x40000000


def worker() -> str | None:
    """This process's pytest-xdist worker id (``gw0``...), or None when not a worker."""
    return os.environ.get("PYTEST_XDIST_WORKER")


#: The namespace each worker left (the machine's), and its own: open descriptors of them.
_namespaces: dict[str, int] = {}


def _libc_call(name: str, *args: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if getattr(libc, name)(*args) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{name}: {os.strerror(err)}")


def _enter(fd: int) -> None:
    setns = getattr(os, "setns", None)  # Python 3.12+
    if setns is not None:
        setns(fd, CLONE_NEWNET)
    else:
        _libc_call("setns", fd, CLONE_NEWNET)


def own_network_namespace() -> None:
    """Move this thread (the one that runs the tests, and so every process they start) into a
    new network namespace with loopback up. Needs root (CAP_SYS_ADMIN)."""
    _namespaces["machine"] = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    unshare = getattr(os, "unshare", None)  # Python 3.12+
    if unshare is not None:
        unshare(CLONE_NEWNET)
    else:
        _libc_call("unshare", CLONE_NEWNET)
    _namespaces["own"] = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, capture_output=True, timeout=30)


@contextlib.contextmanager
def machine_network() -> Iterator[None]:
    """Back in the machine's network namespace for the block, for what needs the network (pip,
    building the package); a no-op where this process never left it."""
    if "machine" not in _namespaces:
        yield
        return
    _enter(_namespaces["machine"])
    try:
        yield
    finally:
        _enter(_namespaces["own"])


def isolated() -> bool:
    """Whether this thread is in a network namespace other than the one the worker started in."""
    if "machine" not in _namespaces:
        return False
    return os.stat("/proc/thread-self/ns/net").st_ino != os.fstat(_namespaces["machine"]).st_ino
