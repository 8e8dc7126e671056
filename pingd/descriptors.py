"""File descriptors: every connection costs one, and an attacker can hold many.

At start pingd raises its soft limit to the hard limit (systemd's default soft limit is
1,024, the hard one far higher; libzmq uses epoll, so a high limit costs nothing). While it
runs, it counts its open descriptors once a second and says so, at most once a minute, when
they run short: connections beyond the limit wait in the listen backlog until idle ones
time out (a peer that has not finished the ZeroMQ handshake within ``HANDSHAKE_MS`` is
dropped).
"""

from __future__ import annotations

import logging
import os
import resource
from typing import Final

log = logging.getLogger("pingd")

#: A peer that has not finished the ZeroMQ handshake by then is disconnected (libzmq's default
#: is 30 s, long enough for idle connections to exhaust the descriptors).
HANDSHAKE_MS: Final = 2000
#: Connections the kernel queues for pingd while it is busy or out of descriptors. Kept
#: modest: under a flood, a long queue fills with idle connections that are then accepted
#: ahead of a real client's fresh one.
BACKLOG: Final = 128
#: Warn when this share of the limit is in use...
SHORT: Final = 0.9
#: ...at most this often (seconds).
WARN_EVERY: Final = 60.0


def raise_soft_limit() -> tuple[int, int]:
    """Raise RLIMIT_NOFILE's soft limit to its hard limit; return (soft, hard) as they end up."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft == resource.RLIM_INFINITY or soft >= hard:
        return soft, hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (OSError, ValueError) as exc:
        log.debug("cannot raise the descriptor limit from %d to %d: %s", soft, hard, exc)
        return soft, hard
    return hard, hard


def open_count() -> int | None:
    """Open descriptors, counted without opening one (there may be none left to open):
    Linux 6.2 and later report the count as the size of /proc/self/fd."""
    try:
        size = os.stat("/proc/self/fd").st_size
        if size > 0:
            return size
        return len(os.listdir("/proc/self/fd")) - 1  # older kernels; less the listing's own
    except OSError:
        return None


class DescriptorWatch:
    """Warns, rate-limited, when open descriptors near the soft limit."""

    def __init__(self, limit: int | None = None, count=open_count) -> None:
        self.limit = limit if limit is not None else resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        self._count = count
        self._warned_at: float | None = None
        self.short = False

    def check(self, now: float) -> None:
        used = self._count()
        if used is None or self.limit in (resource.RLIM_INFINITY, 0):
            return
        self.short = used >= SHORT * self.limit
        if not self.short or (self._warned_at is not None and now - self._warned_at < WARN_EVERY):
            return
        self._warned_at = now
        log.warning(
            "file descriptors running short: %d of %d in use; new connections wait until idle ones "
            "time out (%g s without a handshake); raise LimitNOFILE= (systemd) or ulimit -n",
            used,
            self.limit,
            HANDSHAKE_MS / 1000,
        )
