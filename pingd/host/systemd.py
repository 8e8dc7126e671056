"""Talking to systemd: readiness, the status line, watchdog, stopping, and passed sockets.

Everything here is a no-op when pingd is not run by systemd, so the daemon calls it
unconditionally. The messages go through sdnotify to ``$NOTIFY_SOCKET``.

The status line (``StatusLine``) is what ``systemctl status pingd`` shows: where pingd serves,
its count, its rate in pings per second and how it is announced; or, while the count cannot be
persisted, that it is not counting and why. It is looked at every ``STATUS_INTERVAL`` seconds
while pings come and sent only when it changes; once a look finds no ping since the one before,
the rate shown is 0 and stays so, and the next look waits for the next ping (an idle pingd is
not woken for a rate that cannot change). A storage failure is sent at once through
``publish``, and an announcement's new state at the daemon's next tick (within 2 s when idle).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol

SD_LISTEN_FDS_START: Final = 3
#: Seconds between looks at the status line (and the span its rate is measured over).
STATUS_INTERVAL: Final = 1.0


class Notifier:
    """sd_notify(3) for one process: READY, STATUS, WATCHDOG and STOPPING."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        self.enabled = bool(environ.get("NOTIFY_SOCKET"))
        self.watchdog_interval = watchdog_interval(environ)
        self._last_status = ""
        self._notifier: Any = None  # sdnotify.SystemdNotifier, imported only when asked for
        if self.enabled:
            import sdnotify

            self._notifier = sdnotify.SystemdNotifier()
            if self._notifier.socket is not None:
                # Never let a notify socket nobody reads block the request loop: a message
                # that does not fit is dropped (sdnotify swallows the error).
                self._notifier.socket.setblocking(False)

    def _send(self, message: str) -> None:
        if self._notifier is not None:
            self._notifier.notify(message)

    def ready(self, status: str) -> None:
        self._last_status = status
        self._send(f"READY=1\nSTATUS={status}\nMAINPID={os.getpid()}")

    def status(self, status: str) -> None:
        if status != self._last_status:
            self._last_status = status
            self._send(f"STATUS={status}")

    def watchdog(self) -> None:
        self._send("WATCHDOG=1")

    def reloading(self) -> None:
        self._send("RELOADING=1")

    def reloaded(self) -> None:
        self._send("READY=1")

    def stopping(self, status: str = "stopping") -> None:
        self._send(f"STOPPING=1\nSTATUS={status}")


class Counts(Protocol):
    """What the status line reads from the counter actor (``serve.counter.CounterActor``)."""

    @property
    def committed(self) -> int: ...
    @property
    def served(self) -> int: ...
    @property
    def storage_error(self) -> str | None: ...


class StatusLine:
    """pingd's one-line status for systemd, and the rate it shows."""

    def __init__(self, notifier: Notifier, counts: Counts, where: str, announced: Callable[[], list[str]]) -> None:
        self._notifier = notifier
        self._counts = counts
        self._where = where  # the bound endpoint
        self._announced = announced  # each way the daemon is announced, and its state
        #: Pings per second over the last interval.
        self.rate = 0.0
        #: When the next look is due (``update``).
        self.due = 0.0
        self._mark: tuple[float, int] | None = None  # (when, pings served then)

    def text(self) -> str:
        counts = self._counts
        if counts.storage_error:
            return f"NOT COUNTING: {counts.storage_error}"
        line = f"serving {self._where}, count {counts.committed}, {self.rate:.0f} pings/s"
        announced = self._announced()
        return f"{line}, {', '.join(announced)}" if announced else line

    def update(self, now: float) -> None:
        """Measure the rate since the last update, and send the line if it changed. The next
        update is due in STATUS_INTERVAL, or never while no ping comes (``woken`` says when)."""
        served = self._counts.served
        if self._mark is not None and now > self._mark[0]:
            self.rate = (served - self._mark[1]) / (now - self._mark[0])
        idle = self._mark is not None and served == self._mark[1]
        self._mark = (now, served)
        self.due = math.inf if idle else now + STATUS_INTERVAL
        self.publish()

    def woken(self, now: float) -> None:
        """Pings are coming again: look at the line now if it was waiting for them."""
        if self.due == math.inf:
            self.due = now

    def publish(self) -> None:
        """Send the line now if it changed (storage failed or recovered: at once)."""
        self._notifier.status(self.text())


def watchdog_interval(environ: Mapping[str, str]) -> float | None:
    """Seconds between WATCHDOG=1 messages (half of WatchdogSec), or None when not asked."""
    usec = environ.get("WATCHDOG_USEC")
    pid = environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 2e6 if value > 0 else None


def listen_fds(environ: Mapping[str, str] | None = None) -> list[int]:
    """File descriptors passed by socket activation (sd_listen_fds(3)), for this process only."""
    environ = os.environ if environ is None else environ
    if environ.get("LISTEN_PID") != str(os.getpid()):
        return []
    try:
        count = int(environ.get("LISTEN_FDS", "0"))
    except ValueError:
        return []
    return list(range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + max(0, count)))
