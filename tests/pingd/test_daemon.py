"""The daemon in-process: its loop, its storage-failure handling, its lifecycle."""

from __future__ import annotations

import errno
import json
import logging
import math
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from pingctl.client import PingClient, Target
from pingd.config import Config
from pingd.daemon import Daemon, StartupError, create_daemon
from pingd.errors import EXIT_STATE
from pingd.serve import persistence
from pingd.shared.protocol import MAX_STATUS_TEXT
from tests.pingd.conftest import RecordingNotifier, no_space
from tests.support.processes import wait_for


def _sent(daemon: Daemon) -> list[str]:
    """What the daemon told systemd, in order."""
    assert isinstance(daemon.notifier, RecordingNotifier)
    return daemon.notifier.sent


def _client(daemon: Daemon) -> PingClient:
    return PingClient(Target("127.0.0.1", daemon.listening.port), 5.0)


@pytest.mark.parametrize("sync", ["periodic", "always"])
def test_write_failure_refuses_pings_and_recovers(
    running: Callable[..., Daemon],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    sync: str,
) -> None:
    caplog.set_level(logging.WARNING, logger="pingd")
    daemon = running(sync=sync)
    failing = no_space(monkeypatch)
    with _client(daemon) as client:
        assert client.ping().count == 1
        failing.set()
        refused = [client.ping() for _ in range(3)]
        errors = [r.error or "" for r in refused if r.count is None]
        assert len(errors) == 3 and all("storage failed" in e and "No space left" in e for e in errors)
        status = client.status()
        assert status.count == 1 and "No space left on device" in status.storage
        # Clients learn why, never where: the path is in the log only.
        assert all(str(tmp_path) not in e for e in errors) and str(tmp_path) not in status.storage
        assert any("NOT COUNTING" in m for m in _sent(daemon))
        assert any(
            "refusing pings until it works again" in r.message and str(tmp_path) in r.message for r in caplog.records
        )
        failing.clear()
        assert client.ping().count == 2  # the refused pings were never counted
        assert client.status().storage == "ok"
    assert any("writable again" in r.message for r in caplog.records)
    daemon.stop()
    wait_for(lambda: json.loads((tmp_path / "state.json").read_text())["count"] == 2, 10, "count 2 on disk")


class ManualClock:
    """The daemon's clock, moved by the test: timers fire when the test says, not seconds later."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _whole_turn(daemon: Daemon, client: PingClient) -> None:
    """Return once the loop has taken a whole turn, timers included, begun after this call: a
    STATUS is answered after that turn's tasks, and a task handed over after the answer runs in
    a later turn."""
    client.status()
    done = threading.Event()
    daemon.call_soon(done.set)
    assert done.wait(5)


def test_the_watchdog_is_fed_from_the_loop_when_due(running: Callable[..., Daemon]) -> None:
    clock = ManualClock()
    notifier = RecordingNotifier({"WATCHDOG_USEC": "2000000"})  # WatchdogSec=2: within every second
    daemon = running(clock=clock, notifier=notifier)
    with _client(daemon) as client:
        _whole_turn(daemon, client)
        assert notifier.sent.count("WATCHDOG=1") == 1  # at once
        clock.now += 0.499
        _whole_turn(daemon, client)
        assert notifier.sent.count("WATCHDOG=1") == 1  # not before half the interval
        clock.now += 0.501  # the interval is up: fed (from half on, any tick feeds it)
        _whole_turn(daemon, client)
        assert notifier.sent.count("WATCHDOG=1") == 2
        assert daemon._tick(clock.now) <= clock.now + 1.0  # the next tick comes in time for the next


def test_the_status_line_shows_the_rate_each_second(running: Callable[..., Daemon]) -> None:
    clock = ManualClock()
    daemon = running(clock=clock)
    with _client(daemon) as client:
        for _ in range(3):
            client.ping()
        clock.now += 1.5
        _whole_turn(daemon, client)
    where = daemon.listening.bound
    assert _sent(daemon)[-1] == f"STATUS=serving {where}, count 3, 2 pings/s"  # 3 pings in 1.5 s


def test_storage_recovers_without_traffic(running: Callable[..., Daemon], monkeypatch: pytest.MonkeyPatch) -> None:
    clock = ManualClock()
    daemon = running(clock=clock)
    calls = {"n": 0}
    real_fdatasync = os.fdatasync

    def fdatasync(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] <= 2:
            raise OSError(errno.EIO, "Input/output error")
        return real_fdatasync(fd)

    monkeypatch.setattr("pingd.serve.store.os.fdatasync", fdatasync)
    with _client(daemon) as client:
        assert client.ping().count == 1  # acknowledged: the count is with the OS already
        clock.now += persistence.SYNC_DELAY  # the periodic sync is due: it fails
        wait_for(lambda: "Input/output error" in client.status().storage, 10, "the failed sync to show")
        clock.now += persistence.STORAGE_RETRY  # the first retry: fails too
        wait_for(lambda: calls["n"] >= 2, 10, "the first retry")
        assert client.status().storage != "ok"
        clock.now += persistence.STORAGE_RETRY  # the second retry, with no request: succeeds
        wait_for(lambda: client.status().storage == "ok", 10, "the retry to succeed on its own")
        assert client.ping().count == 2


def test_always_mode_syncs_before_replying(running: Callable[..., Daemon], monkeypatch: pytest.MonkeyPatch) -> None:
    """The PONG waits for the fdatasync: while the sync is held, no reply leaves."""
    daemon = running(sync="always")
    entered, release = threading.Event(), threading.Event()
    real_fdatasync = os.fdatasync

    def held_fdatasync(fd: int) -> None:
        entered.set()
        release.wait(10)
        return real_fdatasync(fd)

    monkeypatch.setattr("pingd.serve.store.os.fdatasync", held_fdatasync)
    from pingd.shared import protocol
    from tests.support.fakes import dealer

    try:
        with dealer(daemon.listening.port) as sock:
            sock.send(protocol.encode_ping(1))
            assert entered.wait(10), "the daemon never synced"
            assert not sock.poll(300), "a PONG left before its count was on disk"
            release.set()
            assert sock.poll(10_000)
            assert protocol.decode_reply(sock.recv()) == protocol.Pong(1, 1)
    finally:
        release.set()


def test_status_reply_and_identity(running: Callable[..., Daemon]) -> None:
    daemon = running(name="unit")
    with _client(daemon) as client:
        client.ping()
        status = client.status()
    assert status.name == "unit" and status.durability == "periodic"
    assert status.node_id == daemon.store.node_id
    assert status.count == 1 and status.pings_served == 1
    assert status.announced == "not announced (--no-mdns, no --dns-domain)"
    assert _sent(daemon)[0].startswith("READY=1\nSTATUS=serving tcp://127.0.0.1:")


class Describing:
    """An announcer that only describes itself, as one failing with a text of any length would."""

    def __init__(self, text: str) -> None:
        self.text = text

    def describe(self) -> str:
        return self.text

    def start(self) -> None: ...
    def close(self) -> None: ...


@pytest.mark.parametrize("length", [MAX_STATUS_TEXT, MAX_STATUS_TEXT + 1, 5000])
def test_an_announced_text_is_cut_to_the_longest_string_pingctl_reads(
    running: Callable[..., Daemon], length: int
) -> None:
    """A DNS server's error can be of any length; pingctl refuses a STATUS holding a string
    over 1,024 characters. Cut at a character (not a byte of UTF-8), the cut marked."""
    daemon = running()
    text = ("DNS: not registered in example.org (" + "\U0001f600" * length)[:length]
    added = threading.Event()
    daemon.call_soon(lambda: daemon.announcers.append(Describing(text)))  # on the loop's thread
    daemon.call_soon(added.set)
    assert added.wait(5)
    with _client(daemon) as client:
        announced = client.status().announced
    assert announced == (text if length <= MAX_STATUS_TEXT else text[: MAX_STATUS_TEXT - 1] + "…")


def test_a_task_from_another_thread_that_fails_is_one_line_and_serving_goes_on(
    running: Callable[..., Daemon], caplog: pytest.LogCaptureFixture
) -> None:
    """No thread of pingd dies silently, the loop least of all: a task handed over with
    call_soon (a reload, a rename) that raised used to end serve() and the daemon."""
    caplog.set_level(logging.ERROR, logger="pingd")
    daemon = running()
    ran = threading.Event()

    def failing() -> None:
        raise RuntimeError("injected")

    daemon.call_soon(failing)
    daemon.call_soon(ran.set)  # the next task still runs
    assert ran.wait(5)
    with _client(daemon) as client:
        assert client.ping().ok
    assert [r.getMessage() for r in caplog.records] == ["an internal task failed, serving on: RuntimeError: injected"]


def test_a_state_file_that_is_a_loop_of_links_stops_the_start_with_the_state_exit_code(tmp_path: Path) -> None:
    link = tmp_path / "state.json"
    link.symlink_to("state.json")
    with pytest.raises(StartupError, match="loop of symbolic links") as info:
        create_daemon(Config(bind="127.0.0.1", port=0, mdns=False), link, environ={}, notifier=RecordingNotifier())
    assert info.value.exit_code == EXIT_STATE
    assert os.readlink(link) == "state.json" and os.listdir(tmp_path) == ["state.json"]


def test_an_idle_daemon_shows_an_announcements_new_state_at_its_next_tick(running: Callable[..., Daemon]) -> None:
    """No ping comes, so the rate's look waits for one; an announcer's new state ("registering"
    → "announced as …") must still reach systemd's status line, at the next tick."""
    clock = ManualClock()
    daemon = running(clock=clock)
    announcer = Describing("mDNS: registering 'box'")
    with _client(daemon) as client:
        daemon.call_soon(lambda: daemon.announcers.append(announcer))
        clock.now += 5.0
        _whole_turn(daemon, client)
        clock.now += 5.0
        _whole_turn(daemon, client)
        assert daemon.status_line.due == math.inf  # idle: the rate's look waits for a ping
        announcer.text = "mDNS: announced as 'box'"
        clock.now += 5.0
        _whole_turn(daemon, client)
    assert _sent(daemon)[-1].endswith(", 0 pings/s, mDNS: announced as 'box'")
