"""Run the real pingd and pingctl as subprocesses, and always stop what we started.

Waiting is on conditions with deadlines (a log line appearing, a process exiting), never
on fixed sleeps.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.notify import NotifySocket

LISTENING = re.compile(r"listening on tcp://(\S+):(\d+)")


def wait_for(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.01):
    """Poll ``predicate`` until it is truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def free_port(host: str = "127.0.0.1") -> int:
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def refusing_port(host: str = "127.0.0.1") -> Iterator[int]:
    """A port that refuses connections for as long as the block runs.

    The port stays bound (never listening): a port merely closed again can be taken by
    another test's daemon, or by the client itself, whose repeated connects from
    ephemeral ports can meet the closed port and connect to themselves.
    """
    import socket

    with socket.socket() as held:
        held.bind((host, 0))
        yield held.getsockname()[1]


def rss_kib(pid: int) -> int:
    """A process's resident memory in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


@dataclass
class Daemon:
    """A pingd subprocess whose stderr is collected line by line."""

    args: list[str]
    env: dict[str, str]
    prefix: Sequence[str] = ()  # e.g. ("ip", "netns", "exec", "ns")
    command: Sequence[str] = ()  # the whole command line, when pingd runs under another program
    proc: subprocess.Popen | None = None
    lines: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None

    def start(self, wait_ready: bool = True, timeout: float = 30.0) -> Daemon:
        self.lines = []
        cmd = list(self.command) if self.command else [*self.prefix, sys.executable, "-m", "pingd", *self.args]
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=self.env,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, args=(self.proc,), daemon=True)
        self._reader.start()
        if wait_ready:
            try:
                wait_for(lambda: self.port or self.proc.poll() is not None, timeout, "pingd to listen")
            except AssertionError as exc:  # never leave it running: whoever started it has no handle yet
                self._abort()
                raise AssertionError(f"{exc}; its last lines: {self.lines[-40:]}") from None
            if self.proc.poll() is not None:
                self._reader.join(5)
                raise AssertionError(f"pingd exited {self.proc.returncode}:\n{self.output}")
        return self

    def _abort(self) -> None:
        """End a daemon that never came up, its threads' stacks in its output first."""
        if self.proc is not None:
            abort_for_stacks(self.proc)
        self.kill()

    def _read(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    @property
    def port(self) -> int | None:
        for line in self.lines:
            m = LISTENING.search(line)
            if m:
                return int(m.group(2))
        return None

    def wait_for_line(self, pattern: str, timeout: float = 10.0) -> str:
        rx = re.compile(pattern)
        try:
            return wait_for(
                lambda: next((line for line in self.lines if rx.search(line)), None), timeout, f"log line /{pattern}/"
            )
        except AssertionError as exc:  # what it said instead
            raise AssertionError(f"{exc}; its last lines: {self.lines[-12:]}") from None

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout: float = 15.0) -> int:
        assert self.proc is not None
        code = self.proc.wait(timeout)
        if self._reader is not None:
            self._reader.join(5)
        return code

    def stop(self, timeout: float = 15.0) -> int:
        self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self._reader is not None:
            self._reader.join(5)


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float

    def json(self):
        return json.loads(self.stdout)


NO_SYSTEM_BUS = "unix:path=/nonexistent/pingd-tests-use-no-system-bus"


def abort_for_stacks(proc: subprocess.Popen, wait: float = 5.0) -> None:
    """End a process that hangs, every thread's stack in its stderr first (PYTHONFAULTHANDLER,
    set by base_env, dumps them on SIGABRT); killed if even that does not end it."""
    terminate(proc, wait, signal.SIGABRT)


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PINGD_", "NOTIFY_", "WATCHDOG_", "LISTEN_"))}
    env.pop("STATE_DIRECTORY", None)
    env.pop("CONFIGURATION_DIRECTORY", None)
    env.pop("JOURNAL_STREAM", None)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONFAULTHANDLER"] = "1"  # a process that hangs can be made to show where (SIGABRT)
    # No system bus: pingd's `auto` never finds the machine's own avahi-daemon, which would
    # announce on the machine's real interfaces. Avahi test hosts give their bus (Avahi.env).
    env["DBUS_SYSTEM_BUS_ADDRESS"] = NO_SYSTEM_BUS
    env.update(extra)
    return env


def pingctl(*args: str, env: dict[str, str] | None = None, prefix: Sequence[str] = (), timeout: float = 60.0) -> Run:
    start = time.monotonic()
    proc = subprocess.run(
        [*prefix, sys.executable, "-m", "pingctl", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env or base_env(),
        timeout=timeout,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)


@dataclass
class Background:
    """A pingctl running in the background, its stdout collected line by line."""

    proc: subprocess.Popen
    lines: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None

    def count(self, prefix: str) -> int:
        return sum(line.startswith(prefix) for line in self.lines)

    def wait(self, timeout: float = 60.0) -> int:
        code = self.proc.wait(timeout)
        if self._reader is not None:
            self._reader.join(10)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def pingctl_background(*args: str, env: dict[str, str] | None = None, prefix: Sequence[str] = ()) -> Background:
    proc = subprocess.Popen(
        [*prefix, sys.executable, "-m", "pingctl", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or base_env(),
    )
    bg = Background(proc)
    bg._reader = threading.Thread(
        target=lambda: bg.lines.extend(line.rstrip("\n") for line in proc.stdout), daemon=True
    )
    bg._reader.start()
    return bg


class Watcher:
    """`pingctl discover --watch` running in the background, its lines collected with the
    time each arrived."""

    def __init__(self, *args: str, prefix: Sequence[str] = (), command: Sequence[str] | None = None) -> None:
        self.proc = subprocess.Popen(
            command or [*prefix, sys.executable, "-m", "pingctl", "discover", "--watch", *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=base_env(),
        )  # fmt: skip
        self.lines: list[tuple[float, str]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def first(self, predicate: Callable[[str], bool], timeout: float, what: str) -> tuple[float, str]:
        """The first line that ``predicate`` accepts, and when it came."""
        return wait_for(lambda: next((item for item in self.lines if predicate(item[1])), None), timeout, what)

    def stop(self, grace: float = 10.0) -> int:
        """Ctrl-C, as a person ends it; the exit code. One still running ``grace`` s later is
        aborted (SIGABRT: PYTHONFAULTHANDLER prints every thread's stack), and that is the error."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            abort_for_stacks(self.proc)
            assert self.proc.stderr is not None
            raise AssertionError(
                f"discover --watch still ran {grace:g} s after Ctrl-C:\n{self.proc.stderr.read()}"
            ) from None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@dataclass
class ReadyPingd:
    proc: subprocess.Popen
    ready_seconds: float  # from exec to READY=1
    notify: NotifySocket


@contextlib.contextmanager
def pingd_until_ready(
    args: Sequence[str],
    *,
    env: dict[str, str],
    prefix: Sequence[str] = (),
    stderr: Any = subprocess.DEVNULL,
    timeout: float = 20.0,
) -> Iterator[ReadyPingd]:
    """pingd started as systemd would watch it (a notify socket), yielded once it says
    READY=1; stopped with SIGTERM at the end (SIGKILL if it lingers), even after a failure."""
    with NotifySocket() as notify:
        started = time.monotonic()
        proc = subprocess.Popen(
            [*prefix, sys.executable, "-m", "pingd", *args],
            env={**env, **notify.env()},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL if stderr is subprocess.DEVNULL else None,
            stderr=stderr,
        )
        try:
            try:
                notify.ready(timeout, proc)
            except TimeoutError:
                raise RuntimeError(f"pingd did not become ready (exit code {proc.poll()})") from None
            yield ReadyPingd(proc, time.monotonic() - started, notify)
        finally:
            terminate(proc)


def terminate(proc: subprocess.Popen, timeout: float = 15.0, sig: int = signal.SIGTERM) -> None:
    """Stop ``proc`` by its PID: ``sig`` (SIGTERM), and SIGKILL if it lingers past ``timeout``."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
