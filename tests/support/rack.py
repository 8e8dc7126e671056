"""A rack: many pingd on one link (the loopback of a namespace of their own), as a test or the
benchmark meets them — every one announced over mDNS on 127.0.0.1, on a port of its own, with a
state file of its own.

One notify socket hears them all (each READY names its MAINPID and, in its status line, the
port it serves), so that starting 300 costs 300 processes and not 300 listening threads. The
namespace keeps their mDNS traffic off the machine's own loopback, and ``close`` stops every
daemon it started, by PID, then removes the namespace, even after a failure.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

from tests.support import netns
from tests.support.processes import base_env

_SERVING = re.compile(r"^STATUS=serving tcp://127\.0\.0\.1:(\d+)", re.M)
_MAINPID = re.compile(r"^MAINPID=(\d+)", re.M)


@dataclass
class Member:
    name: str
    proc: subprocess.Popen
    port: int = 0


@dataclass
class Rack:
    """``size`` daemons called ``<prefix>-NNN``; ``start`` returns once every one is READY."""

    size: int
    prefix: str = "rack"
    extra: tuple[str, ...] = ()
    members: list[Member] = field(default_factory=list)
    namespace: str = ""
    _made: list[str] = field(default_factory=list)

    def __enter__(self) -> Rack:
        self._dir = tempfile.TemporaryDirectory(prefix="pingd-rack-")
        try:
            self.namespace = "rk" + os.urandom(3).hex()
            netns.add_namespace(self.namespace, self._made)
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def run_prefix(self) -> list[str]:
        """Prepend to a command to run it on the rack's link."""
        return ["ip", "netns", "exec", self.namespace]

    def start(self, timeout: float = 300.0) -> float:
        """Start every daemon at once; the seconds until the last said READY=1."""
        notify_path = os.path.join(self._dir.name, "n")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(notify_path)
        env = base_env(NOTIFY_SOCKET=notify_path)
        started = time.monotonic()
        by_pid: dict[int, Member] = {}
        try:
            for i in range(self.size):
                name = f"{self.prefix}-{i:03d}"
                args = ["--bind", "127.0.0.1", "--port", "0", "--mdns-interface", "127.0.0.1", "--name", name,
                        "--state-file", os.path.join(self._dir.name, f"{name}.json"), "--log-level", "warning",
                        *self.extra]  # fmt: skip
                proc = subprocess.Popen(
                    [*self.run_prefix, sys.executable, "-m", "pingd", *args],
                    env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
                member = Member(name, proc)
                self.members.append(member)
                by_pid[proc.pid] = member  # ip netns exec execs the command: the same PID
            deadline = started + timeout
            waiting = set(by_pid)
            while waiting:
                left = deadline - time.monotonic()
                dead = [m.name for m in self.members if m.proc.poll() is not None]
                if left <= 0 or dead:
                    raise RuntimeError(f"{len(waiting)} of {self.size} never became ready (exited: {dead[:5]})")
                sock.settimeout(min(left, 1.0))
                try:
                    text = sock.recv(65536).decode(errors="replace")
                except TimeoutError:
                    continue
                pid, port = _MAINPID.search(text), _SERVING.search(text)
                if "READY=1" in text.splitlines() and pid and port and int(pid.group(1)) in waiting:
                    by_pid[int(pid.group(1))].port = int(port.group(1))
                    waiting.discard(int(pid.group(1)))
            return time.monotonic() - started
        finally:
            sock.close()

    def stop_all(self, timeout: float = 60.0) -> list[float]:
        """SIGTERM to every daemon at once; each one's seconds from the signal to its exit."""
        sent = time.monotonic()
        for m in self.members:
            if m.proc.poll() is None:
                m.proc.send_signal(signal.SIGTERM)
        exits: dict[str, float] = {}
        while len(exits) < len(self.members) and time.monotonic() - sent < timeout:
            for m in self.members:
                if m.name not in exits and m.proc.poll() is not None:
                    exits[m.name] = time.monotonic() - sent
            time.sleep(0.01)  # polling exits, not waiting for a condition that could be waited on
        return sorted(exits.values())

    def close(self) -> None:
        for m in self.members:
            if m.proc.poll() is None:
                m.proc.kill()
            m.proc.wait()
        for name in self._made:
            subprocess.run(["ip", "netns", "delete", name], capture_output=True, timeout=30)
        self._made.clear()
        if hasattr(self, "_dir"):
            self._dir.cleanup()
