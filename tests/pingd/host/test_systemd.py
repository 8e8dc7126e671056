"""What pingd tells systemd, message by message, and what it reads from systemd's variables."""

from __future__ import annotations

import os

from pingd.host import systemd
from tests.support.notify import NotifySocket


def test_no_notify_socket_means_every_call_is_a_no_op():
    notifier = systemd.Notifier({})
    assert not notifier.enabled and notifier.watchdog_interval is None
    notifier.ready("x")
    notifier.watchdog()
    notifier.stopping()


def test_messages_as_systemd_reads_them(monkeypatch):
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


def test_watchdog_interval_is_half_of_watchdog_sec_and_only_for_this_process():
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "4000000"}) == 2.0
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())}) == 2.0
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"}) is None
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "nonsense"}) is None
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "0"}) is None


def test_listen_fds_are_this_process_own():
    mine = str(os.getpid())
    assert systemd.listen_fds({"LISTEN_PID": mine, "LISTEN_FDS": "2"}) == [3, 4]
    assert systemd.listen_fds({"LISTEN_PID": "1", "LISTEN_FDS": "2"}) == []
    assert systemd.listen_fds({"LISTEN_PID": mine, "LISTEN_FDS": "x"}) == []
    assert systemd.listen_fds({}) == []
