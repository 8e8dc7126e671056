"""What the tests of pingd's modules share: a daemon serving in-process."""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pingd.config import Config
from pingd.daemon import Daemon, create_daemon
from pingd.host.systemd import Notifier


class RecordingNotifier(Notifier):
    def __init__(self, environ: dict[str, str] | None = None) -> None:
        super().__init__(environ or {})
        self.sent: list[str] = []

    def _send(self, message: str) -> None:
        self.sent.append(message)


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    """A daemon serving on 127.0.0.1 in a thread; stopped and joined at teardown."""
    daemons: list[tuple[Daemon, threading.Thread]] = []

    def start(clock: Callable[[], float] = time.monotonic, notifier: Notifier | None = None, **settings: Any) -> Daemon:
        config = Config(bind="127.0.0.1", port=0, mdns=False, **settings)
        notifier = notifier or RecordingNotifier()
        daemon = create_daemon(config, tmp_path / "state.json", environ={}, notifier=notifier, clock=clock)
        thread = threading.Thread(target=daemon.serve)
        thread.start()
        daemon.ready.wait(10)
        daemons.append((daemon, thread))
        return daemon

    yield start
    for daemon, thread in daemons:
        daemon.stop()
        thread.join(10)


def no_space(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Writes to the state file fail with ENOSPC while the event returned is set."""
    failing = threading.Event()
    real_pwrite = os.pwrite

    def pwrite(fd: int, data: bytes, offset: int) -> int:
        if failing.is_set():
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr("pingd.serve.store.os.pwrite", pwrite)
    return failing
