"""What pingd tells systemd, message by message, and what it reads from systemd's variables."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import pytest

from pingd.host import systemd
from tests.support.notify import NotifySocket


def test_no_notify_socket_means_every_call_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    """Told nothing by its environment, the notifier sends nothing: not even to a notify socket
    and watchdog that the process environment names (the daemon passes its own mapping)."""
    with NotifySocket() as sock:
        monkeypatch.setenv("NOTIFY_SOCKET", sock.path)
        monkeypatch.setenv("WATCHDOG_USEC", "4000000")
        notifier = systemd.Notifier({})
        assert not notifier.enabled and notifier.watchdog_interval is None
        notifier.ready("x")
        notifier.status("y")
        notifier.watchdog()
        notifier.reloading()
        notifier.reloaded()
        notifier.stopping()
        # A unix datagram is in the receiver's queue when its send returns, so once this
        # marker has been read, anything the silent notifier had sent has been read too.
        systemd.Notifier(sock.env()).status("marker")
        sock.wait_for(lambda line: line == "STATUS=marker", 5)
        assert [line for _, line in sock.messages] == ["STATUS=marker"]


def test_messages_as_systemd_reads_them(monkeypatch: pytest.MonkeyPatch) -> None:
    with NotifySocket() as sock:
        monkeypatch.setenv("NOTIFY_SOCKET", sock.path)  # sdnotify reads it from the environment
        notifier = systemd.Notifier(sock.env())
        notifier.ready("serving")
        notifier.status("serving")  # unchanged: not sent again
        notifier.status("busy")
        notifier.watchdog()
        notifier.reloading()
        notifier.reloaded()
        notifier.stopping("stopping, count 3")
        sock.wait_for(lambda line: line == "STOPPING=1", 5)
        lines = [line for _, line in sock.messages]
    assert lines == [
        "READY=1", "STATUS=serving", f"MAINPID={os.getpid()}", "STATUS=busy", "WATCHDOG=1",
        "RELOADING=1", "READY=1", "STOPPING=1", "STATUS=stopping, count 3",
    ]  # fmt: skip


def test_watchdog_interval_is_half_of_watchdog_sec_and_only_for_this_process() -> None:
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "4000000"}) == 2.0
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())}) == 2.0
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"}) is None
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "nonsense"}) is None
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "0"}) is None


def test_listen_fds_are_this_process_own() -> None:
    mine = str(os.getpid())
    assert systemd.listen_fds({"LISTEN_PID": mine, "LISTEN_FDS": "2"}) == [3, 4]
    assert systemd.listen_fds({"LISTEN_PID": "1", "LISTEN_FDS": "2"}) == []
    assert systemd.listen_fds({"LISTEN_PID": mine, "LISTEN_FDS": "x"}) == []
    assert systemd.listen_fds({}) == []


class RecordingNotifier(systemd.Notifier):
    def __init__(self) -> None:
        super().__init__({})
        self.sent: list[str] = []

    def _send(self, message: str) -> None:
        self.sent.append(message)


@dataclass
class Counts:
    committed: int = 0
    served: int = 0
    storage_error: str | None = None


def test_the_status_line_shows_where_the_count_the_rate_and_the_announcements() -> None:
    notifier, counts, announced = RecordingNotifier(), Counts(committed=7), ["mDNS: box._pingd._tcp.local."]
    line = systemd.StatusLine(notifier, counts, "tcp://127.0.0.1:7464", lambda: announced)
    line.update(10.0)  # the first look: no rate yet
    assert line.due == 10.0 + systemd.STATUS_INTERVAL
    counts.served, counts.committed = 50, 57
    line.update(12.0)
    assert line.rate == 25.0
    announced.append("DNS: registered")
    line.update(13.0)  # nothing served since: the rate falls to 0
    assert notifier.sent == [
        "STATUS=serving tcp://127.0.0.1:7464, count 7, 0 pings/s, mDNS: box._pingd._tcp.local.",
        "STATUS=serving tcp://127.0.0.1:7464, count 57, 25 pings/s, mDNS: box._pingd._tcp.local.",
        "STATUS=serving tcp://127.0.0.1:7464, count 57, 0 pings/s, mDNS: box._pingd._tcp.local., DNS: registered",
    ]


def test_the_status_line_says_why_it_is_not_counting_and_is_sent_only_when_changed() -> None:
    notifier, counts = RecordingNotifier(), Counts(committed=3)
    line = systemd.StatusLine(notifier, counts, "tcp://[::1]:1", lambda: [])
    line.publish()
    line.publish()  # unchanged: not sent again
    counts.storage_error = "cannot write the state file: No space left on device"
    line.publish()
    counts.storage_error = None
    line.update(1.0)
    assert notifier.sent == [
        "STATUS=serving tcp://[::1]:1, count 3, 0 pings/s",
        "STATUS=NOT COUNTING: cannot write the state file: No space left on device",
        "STATUS=serving tcp://[::1]:1, count 3, 0 pings/s",
    ]


def test_with_no_ping_since_the_last_look_the_line_waits_for_the_next_one() -> None:
    notifier, counts = RecordingNotifier(), Counts(committed=7)
    line = systemd.StatusLine(notifier, counts, "tcp://127.0.0.1:7464", lambda: [])
    line.update(0.0)
    counts.served = 10
    line.update(1.0)
    assert line.rate == 10.0 and line.due == 2.0
    line.update(2.0)  # none since: the rate shown falls to 0, and nothing can change it now
    assert line.rate == 0.0 and line.due == math.inf
    line.woken(9.0)  # pings again: looked at at once
    assert line.due == 9.0
    line.woken(9.5)  # already due: unchanged
    assert line.due == 9.0
    assert notifier.sent[-1] == "STATUS=serving tcp://127.0.0.1:7464, count 7, 0 pings/s"
