"""Talking to systemd: readiness, status, watchdog, stopping, and passed sockets.

Everything here is a no-op when pingd is not run by systemd, so the daemon calls it
unconditionally. The messages go through sdnotify to ``$NOTIFY_SOCKET``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Final

SD_LISTEN_FDS_START: Final = 3


class Notifier:
    """sd_notify(3) for one process: READY, STATUS, WATCHDOG and STOPPING."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        self.enabled = bool(environ.get("NOTIFY_SOCKET"))
        self.watchdog_interval = watchdog_interval(environ)
        self._last_status = ""
        self._notifier = None
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
