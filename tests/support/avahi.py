"""Debian's avahi-daemon on a test host, with a D-Bus system bus of its own, so that
avahi-browse — a DNS-SD browser nobody here wrote — can ask it what it sees.

Everything runs in a private mount namespace inside the host's network namespace: a fresh
tmpfs over /run holds the bus socket and avahi's runtime files, so the machine's own D-Bus
and avahi are never touched. The bus (a holder process and its dbus-daemon) is a session of
its own, stopped by its process group id at the end, even after a failure; avahi-daemon
enters the holder's namespaces and can be stopped and started again while the bus stays.
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.netns import Host
from tests.support.processes import base_env, wait_for

_TOOLS = ("avahi-daemon", "avahi-browse", "dbus-daemon", "unshare", "nsenter")

# The holder: a private /run with the bus socket, dbus-daemon, and a process that only waits,
# whose namespaces avahi-daemon (and anything meant to run beside it) enters with nsenter.
_SCRIPT = """set -e
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/dbus /run/avahi-daemon
dbus-daemon --system --nopidfile --nofork &
for _ in $(seq 200); do [ -S /run/dbus/system_bus_socket ] && break; sleep 0.01; done
echo bus-ready
exec sleep infinity
"""


def available() -> str | None:
    """None if avahi hosts can be made here, else why not."""
    missing = [t for t in _TOOLS if shutil.which(t) is None]
    if missing:
        return f"needs {', '.join(missing)} (Debian: avahi-daemon avahi-utils dbus util-linux)"
    return None


@dataclass
class Avahi:
    """avahi-daemon (D-Bus on) on ``host``, answering to ``host_name``. The bus outlives
    avahi-daemon: ``stop_avahi`` and ``start_avahi`` restart the responder alone, as
    `systemctl restart avahi-daemon` does on a real host."""

    host: Host
    host_name: str
    workdir: Path
    ipv6: bool = False
    proc: subprocess.Popen | None = None  # the holder (bus and namespaces)
    avahi: subprocess.Popen | None = None
    lines: list[str] = field(default_factory=list)

    def start(self, timeout: float = 15.0) -> Avahi:
        self.config = self.workdir / f"avahi-{self.host_name}.conf"
        self.config.write_text(
            "[server]\n"
            f"host-name={self.host_name}\n"
            f"allow-interfaces={self.host.interface}\n"
            f"use-ipv6={'yes' if self.ipv6 else 'no'}\nenable-dbus=yes\n"
            "[publish]\npublish-workstation=yes\n"
        )
        self.proc = subprocess.Popen(
            [*self.host.prefix, "unshare", "-m", "--propagation", "private", "bash", "-c", _SCRIPT],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        # Until the bus is up, or the script failed, or the time is out. dbus-daemon may warn
        # first, and its warning may share a line with the script's word: look for the word, in
        # raw reads (a buffered readline could keep it from select's sight).
        said = b""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while b"bus-ready" not in said:
                chunk = os.read(fd, 4096) if selector.select(max(0.0, deadline - time.monotonic())) else None
                if not chunk:
                    why = "in time" if chunk is None else "(it exited)"
                    raise AssertionError(f"the test host's D-Bus did not start {why}:\n{said.decode(errors='replace')}")
                said += chunk
        return self.start_avahi(timeout)

    def start_avahi(self, timeout: float = 15.0) -> Avahi:
        """Start avahi-daemon beside the bus; returns once it says its start-up is complete."""
        assert self.proc is not None
        self.lines.clear()
        self.avahi = subprocess.Popen(
            ["nsenter", "-t", str(self.proc.pid), "-m", "-n",
             "avahi-daemon", "--no-drop-root", "--no-chroot", "--no-rlimits", "-f", str(self.config)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )  # fmt: skip
        avahi = self.avahi
        threading.Thread(target=lambda: self.lines.extend(line.rstrip() for line in avahi.stdout), daemon=True).start()
        wait_for(
            lambda: any("Server startup complete" in line for line in self.lines) or avahi.poll() is not None,
            timeout,
            "avahi-daemon to start",
        )
        if avahi.poll() is not None:
            raise AssertionError("avahi-daemon exited:\n" + "\n".join(self.lines))
        return self

    def stop_avahi(self) -> None:
        """Stop avahi-daemon (SIGTERM, as systemctl does); the bus stays."""
        if self.avahi is not None and self.avahi.poll() is None:
            self.avahi.terminate()
            try:
                self.avahi.wait(10)
            except subprocess.TimeoutExpired:
                self.avahi.kill()
                self.avahi.wait(10)

    def env(self, **extra: str) -> dict[str, str]:
        """An environment for a program run with ``prefix`` that should find this Avahi's bus."""
        return base_env(DBUS_SYSTEM_BUS_ADDRESS="unix:path=/run/dbus/system_bus_socket", **extra)

    @property
    def prefix(self) -> list[str]:
        """Prepend to a command to run it beside this avahi (its network and its bus)."""
        assert self.proc is not None
        return ["nsenter", "-t", str(self.proc.pid), "-m", "-n"]

    def stop(self) -> None:
        self.stop_avahi()
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if self.proc is not None:
            try:  # the bus daemon of the group, if it outlived the holder
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def __enter__(self) -> Avahi:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
