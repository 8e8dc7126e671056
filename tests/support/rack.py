"""A rack: many pingd on one link (the loopback of a namespace of their own), as a test or the
benchmark meets them — every one announced over mDNS on 127.0.0.1, on a port of its own, with a
state file of its own. Or, given a test host's namespace, the address to serve on and how to
announce (e.g. registered by DNS update in a zone), the same rack on that host.

One thread hears every daemon's notify socket (READY=1 comes with the status line, which names
the port it serves), so that starting 300 costs 300 processes and not 300 listening threads. The
namespace keeps their mDNS traffic off the machine's own loopback, and ``close`` stops every
daemon it started, by PID, then removes the namespace, even after a failure.
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

from tests.support import netns
from tests.support.processes import base_env

_SERVING = re.compile(r"^STATUS=serving tcp://(?:\[[^\]]*\]|[^:\s]+):(\d+)", re.M)
#: The announcement the default rack waits for in each daemon's status line.
MDNS_READY = ", mDNS: announced as "


@dataclass
class Member:
    name: str
    proc: subprocess.Popen
    port: int = 0


@dataclass
class Rack:
    """``size`` daemons called ``<prefix>-NNN``; ``start`` returns once every one's status line
    says ``ready`` (that it is announced). ``namespace``: a test host's, to run there instead of
    in a namespace made (and removed) for the rack; ``bind``: the address they serve on;
    ``announce``: how they are announced."""

    size: int
    prefix: str = "rack"
    extra: tuple[str, ...] = ()
    namespace: str = ""
    bind: str = "127.0.0.1"
    announce: tuple[str, ...] = ("--mdns-interface", "127.0.0.1")
    ready: str = MDNS_READY
    members: list[Member] = field(default_factory=list)
    start_seconds: float = 0.0  # from the first exec to the last one announced
    _made: list[str] = field(default_factory=list)

    def __enter__(self) -> Rack:
        self._dir = tempfile.TemporaryDirectory(prefix="pingd-rack-")
        try:
            if not self.namespace:
                self.namespace = "rk" + os.urandom(3).hex()
                netns.add_namespace(self.namespace, self._made)
            self.start_seconds = self.start()
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
        """Start every daemon at once; the seconds until the last says it is announced."""
        started = time.monotonic()
        # Never measured by coverage: a hundred data files to combine, for paths other tests measure.
        env = {k: v for k, v in base_env().items() if k != "COVERAGE_PROCESS_CONFIG"}
        selector = selectors.DefaultSelector()
        try:
            for i in range(self.size):
                name = f"{self.prefix}-{i:03d}"
                # A notify socket each: a unix datagram socket queues only a few messages
                # (net.unix.max_dgram_qlen), and pingd drops what does not fit, READY=1 included.
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                sock.bind(os.path.join(self._dir.name, f"n{i}"))
                args = ["--bind", self.bind, "--port", "0", *self.announce, "--name", name,
                        "--state-file", os.path.join(self._dir.name, f"{name}.json"), "--log-level", "warning",
                        *self.extra]  # fmt: skip
                with open(os.path.join(self._dir.name, f"{name}.log"), "wb") as log:  # warnings and worse
                    proc = subprocess.Popen(
                        [*self.run_prefix, sys.executable, "-m", "pingd", *args],
                        env=env | {"NOTIFY_SOCKET": sock.getsockname()},
                        stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                    )  # fmt: skip
                member = Member(name, proc)
                self.members.append(member)
                selector.register(sock, selectors.EVENT_READ, member)
            deadline = started + timeout
            while selector.get_map():
                dead = [m.name for m in self.members if m.proc.poll() is not None]
                if time.monotonic() >= deadline or dead:
                    waiting = len(selector.get_map())
                    said = self.log(dead[0]).strip().splitlines()[-1:] if dead else []
                    raise RuntimeError(f"{waiting} of {self.size} never became ready (exited: {dead[:5]}) {said}")
                for key, _ in selector.select(timeout=1.0):
                    text = key.fileobj.recv(65536).decode(errors="replace")  # type: ignore[union-attr]
                    port = _SERVING.search(text)
                    if "READY=1" in text.splitlines() and port:
                        key.data.port = int(port.group(1))
                    # Ready to be found once its status line says it is announced (it serves
                    # by address from READY=1 on; its name probe takes about a second more).
                    if key.data.port and self.ready in text:
                        selector.unregister(key.fileobj)
                        key.fileobj.close()  # type: ignore[union-attr]
            return time.monotonic() - started
        finally:
            for key in list(selector.get_map().values()):
                key.fileobj.close()  # type: ignore[union-attr]
            selector.close()

    def log(self, name: str) -> str:
        """What daemon ``name`` wrote to its stdout and stderr."""
        with open(os.path.join(self._dir.name, f"{name}.log"), errors="replace") as f:
            return f.read()

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
