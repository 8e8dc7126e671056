"""A notify socket: what pingd tells systemd (READY=1, STATUS=…, WATCHDOG=1, STOPPING=1),
received here, as systemd would receive it.

A unix datagram socket at a short path, passed to pingd as ``$NOTIFY_SOCKET``. A background
thread collects every line with the time it arrived; ``wait_for`` waits on a condition with a
deadline, never on a fixed sleep.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable


class NotifySocket:
    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="pingd-notify-")  # a short path: sun_path is small
        self.path = os.path.join(self._dir.name, "n")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.messages: list[tuple[float, str]] = []  # (arrival, line)
        self._changed = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def env(self) -> dict[str, str]:
        return {"NOTIFY_SOCKET": self.path}

    def _read(self) -> None:
        while not self._stop:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._changed:
                now = time.monotonic()
                self.messages.extend((now, line) for line in data.decode(errors="replace").splitlines())
                self._changed.notify_all()

    def lines(self, prefix: str) -> list[tuple[float, str]]:
        """Every line received so far that starts with ``prefix``, with its arrival time."""
        with self._changed:
            return [(t, line) for t, line in self.messages if line.startswith(prefix)]

    def wait_for(self, wanted: Callable[[str], bool], timeout: float, process: subprocess.Popen | None = None) -> str:
        """The first line received that satisfies ``wanted``; TimeoutError after ``timeout``
        seconds, or as soon as ``process`` has exited."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for _, line in self.messages:
                    if wanted(line):
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (process is not None and process.poll() is not None):
                    raise TimeoutError("no such notify message")
                self._changed.wait(min(remaining, 0.2))

    def ready(self, timeout: float, process: subprocess.Popen | None = None) -> str:
        return self.wait_for(lambda line: line == "READY=1", timeout, process)

    def close(self) -> None:
        self._stop = True
        self._thread.join(2)
        self.sock.close()
        self._dir.cleanup()

    def __enter__(self) -> NotifySocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
