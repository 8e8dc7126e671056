"""Debian's avahi-daemon on a test host, with a D-Bus system bus of its own, so that
avahi-browse — a DNS-SD browser nobody here wrote — can ask it what it sees.

Everything runs in a private mount namespace inside the host's network namespace: a fresh
tmpfs over /run holds the bus socket and avahi's runtime files, so the machine's own D-Bus
and avahi are never touched. The group (avahi-daemon, its dbus-daemon) is a session of its
own, stopped by its process group id at the end, even after a failure.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.netns import Host
from tests.support.processes import wait_for

_TOOLS = ("avahi-daemon", "avahi-browse", "dbus-daemon", "unshare", "nsenter")

_SCRIPT = """set -e
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/dbus /run/avahi-daemon
dbus-daemon --system --nopidfile --nofork &
for _ in $(seq 200); do [ -S /run/dbus/system_bus_socket ] && break; sleep 0.01; done
exec avahi-daemon --no-drop-root --no-chroot --no-rlimits -f "$1"
"""


def available() -> str | None:
    """None if avahi hosts can be made here, else why not."""
    missing = [t for t in _TOOLS if shutil.which(t) is None]
    if missing:
        return f"needs {', '.join(missing)} (Debian: avahi-daemon avahi-utils dbus util-linux)"
    return None


@dataclass
class Avahi:
    """avahi-daemon (D-Bus on) on ``host``, answering to ``host_name``."""

    host: Host
    host_name: str
    workdir: Path
    proc: subprocess.Popen | None = None
    lines: list[str] = field(default_factory=list)

    def start(self, timeout: float = 15.0) -> Avahi:
        config = self.workdir / f"avahi-{self.host_name}.conf"
        config.write_text(
            "[server]\n"
            f"host-name={self.host_name}\n"
            f"allow-interfaces={self.host.interface}\n"
            "use-ipv6=no\nenable-dbus=yes\n"
            "[publish]\npublish-workstation=yes\n"
        )
        self.proc = subprocess.Popen(
            [
                *self.host.prefix,
                "unshare",
                "-m",
                "--propagation",
                "private",
                "bash",
                "-c",
                _SCRIPT,
                "avahi",
                str(config),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(
            target=lambda: self.lines.extend(line.rstrip() for line in self.proc.stdout), daemon=True
        ).start()
        wait_for(
            lambda: any("Server startup complete" in line for line in self.lines) or self.proc.poll() is not None,
            timeout,
            "avahi-daemon to start",
        )
        if self.proc.poll() is not None:
            raise AssertionError("avahi-daemon exited:\n" + "\n".join(self.lines))
        return self

    @property
    def prefix(self) -> list[str]:
        """Prepend to a command to run it beside this avahi (its network and its bus)."""
        assert self.proc is not None
        return ["nsenter", "-t", str(self.proc.pid), "-m", "-n"]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if self.proc is not None:
            try:  # the bus daemon of the group, if it outlived avahi
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def __enter__(self) -> Avahi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
