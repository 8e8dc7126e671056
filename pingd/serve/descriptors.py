"""File descriptors: every connection costs one, and an attacker can hold many.

At start pingd raises its soft limit to the hard limit (systemd's default soft limit is
1,024, the hard one far higher; libzmq uses epoll, so a high limit costs nothing). A peer that
has not finished the ZeroMQ handshake within ``HANDSHAKE_MS`` is dropped by libzmq; one that
has finished it is not (libzmq answers its heartbeats), and a flood of those once held every
descriptor for good. So pingd counts its open descriptors (a ``stat``, a few µs, ``EVERY``
seconds), and when they run short (``SHORT`` of the limit in use) it evicts idle peers itself
(``peers`` says whom, ``evictor`` does it): enough to get under the threshold with room for a
full listen backlog, so that a real client waiting there is accepted at once.

While short, or a moment ago (``CALM``), it counts every ``SHORT_EVERY`` seconds (each turn of
the loop): under a flood, evicted peers reconnect at once and the room lasts a moment. While
nothing happens — no ping served, no descriptor opened or closed since the last count — the
counts back off, doubling up to ``IDLE_EVERY``, so that an idle pingd sleeps: a flood on an
idle daemon is noticed within ``IDLE_EVERY``, and from its second count on every ``EVERY``. It says
so at most once a minute, with how many peers were evicted so far, and says once when it ends,
with the total.
"""

from __future__ import annotations

import logging
import os
import resource
from collections.abc import Callable
from typing import Final, Protocol

from pingd.serve import peers

log = logging.getLogger("pingd")

#: A peer that has not finished the ZeroMQ handshake by then is disconnected (libzmq's default
#: is 30 s, long enough for idle connections to exhaust the descriptors).
HANDSHAKE_MS: Final = 2000
#: Connections the kernel queues for pingd while it is busy or out of descriptors. Kept
#: modest: under a flood, a long queue fills with idle connections that are then accepted
#: ahead of a real client's fresh one.
BACKLOG: Final = 128
#: When this share of the limit is in use, idle peers are evicted...
SHORT: Final = 0.9
#: ...and it is said at most this often (seconds).
WARN_EVERY: Final = 60.0
#: Seconds between counts: normally (a flood is noticed this soon), and while short (or
#: within CALM seconds of it), when idle peers are evicted at this pace.
EVERY: Final = 0.25
SHORT_EVERY: Final = 0.1
#: The longest wait between counts, reached by doubling while pingd is idle and its descriptors
#: do not change (the idle daemon's one periodic wake-up; the watchdog rides on it).
IDLE_EVERY: Final = 2.0
#: Descriptors count as short again until they have been plentiful this long: under a flood,
#: each eviction makes room that is filled at once, and a warning per turn helps nobody.
CALM: Final = 5.0


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


class Evictor(Protocol):
    """Evicts idle peers (``evictor.IdleEvictor``)."""

    watching: bool

    @property
    def connections(self) -> int: ...
    def round(self, now: float, watch: bool, wanted: int) -> int: ...
    def receive(self, flags: int = 0) -> list[bytes]: ...
    def close(self) -> None: ...


class DescriptorWatch:
    """Counts descriptors; when they run short, has idle peers evicted and says so."""

    def __init__(
        self, limit: int | None = None, count: Callable[[], int | None] = open_count, evictor: Evictor | None = None
    ) -> None:
        self.limit = limit if limit is not None else resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        self._count = count
        self.evictor = evictor
        #: Short now, or within CALM seconds: requests are noted, counts come often.
        self.short = False
        #: When the next count is due.
        self.due = 0.0
        self._short_at: float | None = None  # last seen short
        self._since: float | None = None  # this spell of shortness began
        self._evicted = 0  # in this spell
        self._warned_at: float | None = None
        self._every = EVERY  # the wait before the next count while not short
        self._used = -1  # at the last count
        #: Idle peers evicted since start (for the metrics).
        self.evicted_total = 0

    @property
    def receive(self) -> Callable[..., list[bytes]] | None:
        """While requests are being noted, the receive that notes them (None otherwise)."""
        evictor = self.evictor
        return evictor.receive if evictor is not None and evictor.watching else None

    def check(self, now: float, quiet: bool = False) -> None:
        """Count the descriptors now and act on it. ``quiet``: no ping was served since the
        last count, so the next one may wait longer if the count has not changed either."""
        counted = self._count()
        used = counted if counted is not None and self.limit not in (resource.RLIM_INFINITY, 0) else 0
        threshold = int(SHORT * self.limit)
        short_now = 0 < threshold <= used
        if short_now:
            self._short_at = now
        self.short = self._short_at is not None and now - self._short_at < CALM
        self._every = min(2 * self._every, IDLE_EVERY) if quiet and used == self._used else EVERY
        self._used = used
        self.due = now + (SHORT_EVERY if self.short else self._every)
        # Make room for a full listen backlog below the threshold, so that a real client
        # waiting there is accepted at the next turn.
        wanted = used - threshold + BACKLOG if short_now else 0
        evicted = self.evictor.round(now, self.short, wanted) if self.evictor is not None else 0
        self.evicted_total += evicted
        if evicted:
            log.debug("evicted %d idle peers (%d of %d descriptors were in use)", evicted, used, self.limit)
        self._tell(now, used, short_now, evicted)

    def _tell(self, now: float, used: int, short_now: bool, evicted: int) -> None:
        """Keep the tally of this spell of shortness, and say what there is to say."""
        if self.short:
            if self._since is None:
                self._since, self._evicted = now, 0
            self._evicted += evicted
            # Said once there is something to say: the first eviction, or a while with none
            # (when every peer is young or busy).
            settled = self.evictor is None or evicted or now - self._since >= peers.NEW_IDLE + peers.MAX_ALLOWANCE
            if short_now and settled and (self._warned_at is None or now - self._warned_at >= WARN_EVERY):
                self._warned_at = now
                self._warn(used)
        elif self._since is not None:
            log.info(
                "file descriptors no longer short (%d of %d in use): %d idle peers evicted in %.0f s",
                used, self.limit, self._evicted, now - self._since,
            )  # fmt: skip
            self._since = None

    def _warn(self, used: int) -> None:
        advice = "raise LimitNOFILE= (systemd) or ulimit -n"
        if self.evictor is None:
            log.warning(
                "file descriptors running short: %d of %d in use; new connections wait in the listen backlog; %s",
                used, self.limit, advice,
            )  # fmt: skip
            return
        log.warning(
            "file descriptors running short: %d of %d in use; evicting idle peers (no request within %g s "
            "of connecting, or for %g s), longest idle first: %d evicted so far; if they are real clients, %s",
            used, self.limit, peers.NEW_IDLE, peers.QUIET_IDLE, self._evicted, advice,
        )  # fmt: skip
