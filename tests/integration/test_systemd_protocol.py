"""What pingd tells systemd, checked without systemd: a datagram socket at $NOTIFY_SOCKET,
journald-style logging, SIGHUP reloads, and socket activation by systemd-socket-activate."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from tests.conftest import require
from tests.support.notify import NotifySocket
from tests.support.processes import Daemon, base_env, free_port, pingctl, wait_for


@pytest.fixture
def notify():
    with NotifySocket() as n:
        yield n


def test_ready_watchdog_status_and_stopping(spawn_daemon, notify, state_dir):
    env = base_env(NOTIFY_SOCKET=notify.path, WATCHDOG_USEC="400000")
    daemon = spawn_daemon(env=env, wait_ready=False)
    wait_for(lambda: notify.lines("READY=1"), 15, "READY=1")
    # READY=1 comes only once the port accepts pings: a ping right now must succeed.
    assert daemon.port is not None
    run = pingctl("ping", "--server-ip", "127.0.0.1", "--port", str(daemon.port), "-c", "5", "-i", "0", "--json")
    assert run.code == 0 and run.json()["received"] == 5
    assert notify.lines("MAINPID=") == [(notify.lines("MAINPID=")[0][0], f"MAINPID={daemon.proc.pid}")]

    # WATCHDOG=1 every WATCHDOG_USEC/2 = 0.2 s.
    wait_for(lambda: len(notify.lines("WATCHDOG=1")) >= 8, 10, "eight watchdog pings")
    times = [t for t, _ in notify.lines("WATCHDOG=1")]
    gaps = sorted(b - a for a, b in zip(times, times[1:], strict=False))
    median_gap = gaps[len(gaps) // 2]
    assert 0.1 <= median_gap <= 0.3, gaps

    # STATUS= follows the count.
    wait_for(lambda: any("count 5," in line for _, line in notify.lines("STATUS=")), 10, "STATUS= with count 5")
    assert notify.lines("STATUS=")[0][1].startswith("STATUS=serving tcp://127.0.0.1:")

    assert daemon.stop() == 0
    assert notify.lines("STOPPING=1")
    assert json.loads((state_dir / "state.json").read_text())["count"] == 5


def test_watchdog_pid_of_another_process_is_not_ours(spawn_daemon, notify):
    env = base_env(NOTIFY_SOCKET=notify.path, WATCHDOG_USEC="200000", WATCHDOG_PID="1")
    daemon = spawn_daemon(env=env, wait_ready=False)
    wait_for(lambda: notify.lines("READY=1"), 15, "READY=1")
    pingctl("ping", "--server-ip", "127.0.0.1", "--port", str(daemon.port), "-c", "1")
    # STATUS= is refreshed once a second: by then several 0.1 s watchdog periods have passed.
    wait_for(lambda: any("count 1," in line for _, line in notify.lines("STATUS=")), 10, "STATUS= with count 1")
    assert notify.lines("WATCHDOG=1") == []
    daemon.stop()


def test_journald_stream_gets_priorities_and_no_timestamps(tmp_path, state_dir):
    log = tmp_path / "journal.log"
    with open(log, "w") as out:
        st = os.fstat(out.fileno())
        env = base_env(JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pingd",
                "--bind",
                "127.0.0.1",
                "--port",
                "0",
                "--no-mdns",
                "--state-file",
                str(state_dir / "s.json"),
            ],
            stdout=out,
            stderr=out,
            env=env,
            stdin=subprocess.DEVNULL,
        )
        try:
            wait_for(lambda: "listening on" in log.read_text(), 15, "listening line")
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(15) == 0
    lines = log.read_text().splitlines()
    assert lines and all(line.startswith(("<6>", "<4>", "<3>")) for line in lines), lines
    assert any(line.startswith("<6>listening on tcp://127.0.0.1:") for line in lines)


def test_plain_logs_have_timestamps_when_not_under_journald(spawn_daemon):
    daemon = spawn_daemon()
    line = daemon.wait_for_line("listening on")
    assert line[:4].isdigit() and " INFO " in line and not line.startswith("<")


def test_sighup_reloads_the_log_level_and_reports_what_needs_a_restart(spawn_daemon, tmp_path):
    config = tmp_path / "pingd.toml"
    config.write_text('log_level = "info"\n')
    daemon = spawn_daemon("--config", str(config))
    config.write_text('log_level = "debug"\nsync = "always"\n')
    daemon.signal(signal.SIGHUP)
    daemon.wait_for_line(r"reloaded configuration: log_level info -> debug")
    daemon.wait_for_line(r"reload: sync changed; restart pingd to apply it")
    config.write_text("log_level = [")
    daemon.signal(signal.SIGHUP)
    daemon.wait_for_line(r"reload failed, keeping the current settings: config file .*not valid TOML")
    run = pingctl("ping", "--server-ip", "127.0.0.1", "--port", str(daemon.port), "-c", "1", "--json")
    assert run.code == 0
    assert daemon.stop() == 0


def test_check_config_prints_effective_settings_and_rejects_bad_ones(tmp_path):
    config = tmp_path / "pingd.toml"
    config.write_text('port = 7000\nsync = "always"\n')
    env = base_env(PINGD_NAME="from-env")
    out = subprocess.run(
        [sys.executable, "-m", "pingd", "--config", str(config), "--check-config", "--port", "7001"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    settings = json.loads(out.stdout)
    assert (settings["port"], settings["sync"], settings["name"]) == (7001, "always", "from-env")
    config.write_text("colour = 1\n")
    bad = subprocess.run(
        [sys.executable, "-m", "pingd", "--config", str(config), "--check-config"],
        capture_output=True,
        text=True,
        env=base_env(),
        timeout=30,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "unknown setting 'colour'" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_socket_activation_with_systemd_socket_activate(tmp_path):
    require(
        None if shutil.which("systemd-socket-activate") else "needs systemd-socket-activate (Debian package systemd)"
    )
    port = free_port()
    daemon = Daemon(
        args=[],
        env=base_env(),
        command=[
            "systemd-socket-activate",
            "-l",
            f"127.0.0.1:{port}",
            "-E",
            "PYTHONUNBUFFERED=1",
            "-E",
            "PATH",
            "--",
            sys.executable,
            "-m",
            "pingd",
            "--no-mdns",
            "--state-file",
            str(tmp_path / "s.json"),
        ],
    )
    try:
        daemon.start(wait_ready=False)
        daemon.wait_for_line("Listening on", 15)  # systemd-socket-activate's, before pingd runs
        # pingd starts on the first connection and adopts the listening socket.
        run = pingctl(
            "ping", "--server-ip", "127.0.0.1", "--port", str(port), "-c", "3", "-i", "0", "--timeout", "10", "--json"
        )
        assert run.code == 0, run.stderr + daemon.output
        assert run.json()["received"] == 3
        line = daemon.wait_for_line("listening on")
        assert f"listening on tcp://127.0.0.1:{port} (socket passed by systemd)" in line
        assert daemon.stop() == 0
    finally:
        daemon.kill()
