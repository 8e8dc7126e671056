"""What pingctl shows people: plain lines when piped, a live view on a terminal, JSON,
histograms, interim statistics on SIGQUIT, and one-line errors with documented exit codes."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time

import pytest

from pingd.shared import protocol
from tests.support.fakes import fake_router
from tests.support.processes import base_env, pingctl, pingctl_background, refusing_port, wait_for

ESCAPE = re.compile(r"\x1b[\[\]()]")


def _addr(daemon) -> tuple[str, ...]:
    return ("--server-ip", "127.0.0.1", "--port", str(daemon.port))


def test_piped_output_is_plain_ping_lines_without_escape_sequences(spawn_daemon):
    daemon = spawn_daemon()
    run = pingctl("ping", *_addr(daemon), "-c", "5", "-i", "0", "--histogram", env=base_env(TERM="xterm-256color"))
    assert run.code == 0
    assert not ESCAPE.search(run.stdout) and not ESCAPE.search(run.stderr)
    assert sum(line.startswith("pong from") for line in run.stdout.splitlines()) == 5


def test_quiet_prints_only_the_summary(spawn_daemon):
    daemon = spawn_daemon()
    run = pingctl("ping", *_addr(daemon), "-c", "3", "-i", "0", "-q")
    lines = run.stdout.splitlines()
    assert run.code == 0 and lines[0].startswith("--- ") and not any(line.startswith("pong") for line in lines)


def test_json_has_the_documented_keys_samples_and_histogram(spawn_daemon):
    daemon = spawn_daemon()
    run = pingctl("ping", *_addr(daemon), "-c", "20", "-i", "0", "--json", "--samples", "--histogram")
    report = run.json()
    assert set(report) == {
        "sent",
        "received",
        "lost",
        "loss_percent",
        "total_seconds",
        "rtt_ms",
        "last_count",
        "server",
        "samples",
        "histogram",
    }
    assert set(report["rtt_ms"]) == {"min", "avg", "max", "mdev", "p50", "p90", "p99"}
    assert set(report["server"]) == {"address", "port", "node_id", "name"}
    assert [s["seq"] for s in report["samples"]] == list(range(1, 21))
    assert [s["count"] for s in report["samples"]] == list(range(1, 21))
    assert all(s["rtt_ms"] > 0 and s["error"] is None for s in report["samples"])
    assert sum(b["count"] for b in report["histogram"]) == report["received"] == 20


def test_text_histogram_buckets_add_up_to_the_received_count(spawn_daemon):
    daemon = spawn_daemon()
    run = pingctl("ping", *_addr(daemon), "-c", "40", "-i", "0", "--histogram")
    lines = run.stdout.splitlines()
    start = lines.index("rtt histogram (ms):")
    counts = [int(re.search(r"\| (\d+) \(", line).group(1)) for line in lines[start + 1 :]]
    assert sum(counts) == 40 and len(counts) >= 1


def test_deadline_stops_an_endless_session(spawn_daemon):
    daemon = spawn_daemon()
    run = pingctl("ping", *_addr(daemon), "-c", "0", "-i", "0.1", "-w", "0.55", "--json")
    report = run.json()
    assert run.code == 0 and 4 <= report["sent"] <= 7 and report["total_seconds"] < 2


def test_sigquit_prints_interim_statistics_and_the_session_goes_on(spawn_daemon):
    daemon = spawn_daemon()
    session = pingctl_background("ping", *_addr(daemon), "-c", "0", "-i", "0.05")
    try:
        wait_for(lambda: session.count("pong") >= 3, 20, "three pongs")
        session.proc.send_signal(signal.SIGQUIT)
        before = session.count("pong")
        wait_for(lambda: session.count("pong") >= before + 3, 20, "the session to go on")
        assert session.proc.poll() is None
        session.proc.send_signal(signal.SIGINT)
        assert session.wait(20) == 0
    finally:
        session.kill()
    stderr = session.proc.stderr.read()
    assert re.search(r"^\d+/\d+ pongs, 0% loss, rtt min/avg/max/mdev = [\d./]+ ms$", stderr, re.M), stderr
    assert any("pings transmitted" in line for line in session.lines)


def test_live_view_on_a_terminal_updates_and_ends_with_the_summary(spawn_daemon):
    daemon = spawn_daemon()
    main, secondary = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pingctl", "ping", *_addr(daemon), "-c", "15", "-i", "0.05"],
        stdin=subprocess.DEVNULL,
        stdout=secondary,
        stderr=secondary,
        env=base_env(TERM="xterm", COLUMNS="120"),
    )
    os.close(secondary)
    screen = b""
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(main, 65536)
                except OSError:
                    break  # the terminal closed: pingctl has exited
                if not chunk:
                    break
                screen += chunk
            elif proc.poll() is not None:
                break
        assert proc.wait(10) == 0
    finally:
        proc.kill()
        os.close(main)
    text = screen.decode(errors="replace")
    progress = re.findall(r" (\d+)/15 ", text)
    assert len(set(progress)) >= 3, text  # the bar was redrawn as pongs came in
    assert "\x1b[" in text  # it is a live view, drawn with control sequences
    assert "15 pings transmitted, 15 received" in text
    assert "pong from 127.0.0.1" in text


def test_status_watch_refreshes(spawn_daemon):
    daemon = spawn_daemon()
    session = pingctl_background("status", *_addr(daemon), "--watch", "0.2")
    try:
        wait_for(lambda: len(session.lines) >= 1, 20, "a first status line")
        pingctl("ping", *_addr(daemon), "-c", "5", "-i", "0")
        wait_for(
            lambda: any("count 5 (+" in line for line in session.lines), 20, "a refresh showing count 5 and a rate"
        )
        session.proc.send_signal(signal.SIGINT)
        assert session.wait(20) == 0
    finally:
        session.kill()
    assert not any(ESCAPE.search(line) for line in session.lines)


def test_status_watch_alone_means_every_second(spawn_daemon):
    daemon = spawn_daemon()
    session = pingctl_background("status", *_addr(daemon), "--watch", "--json")
    try:
        wait_for(lambda: len(session.lines) >= 2, 20, "two refreshes")
        first, second = (json.loads(line) for line in session.lines[:2])
        assert second["uptime_seconds"] - first["uptime_seconds"] == pytest.approx(1.0, abs=0.5)
    finally:
        session.kill()


# --- errors: one line, documented exit code, no traceback ------------------------------------


def _one_line_error(run, code: int, *fragments: str) -> None:
    assert run.code == code, (run.code, run.stderr)
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("pingctl: "), run.stderr
    for fragment in fragments:
        assert fragment in run.stderr, run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["ping", "--count", "many"], ["'--count'", "--help"]),
        (["ping", "--bogus"], ["No such option: --bogus"]),
        (["ping", "--server-ip", "127.0.0.1", "--port", "99999"], ["port 99999 is out of range"]),
        (["ping", "--server-ip", "::zz::"], ["cannot resolve '::zz::'"]),
        (["ping", "--server-ip", "127.0.0.1", "--interval", "-1"], ["--interval"]),
        (["ping", "--server-ip", "127.0.0.1", "--samples"], ["--samples", "--json"]),
        (["status", "--server-ip", "127.0.0.1", "--watch", "0"], ["--watch"]),
        (
            ["status", "--name", "nobody-here", "--discovery-timeout", "0.3", "--mdns-interface", "127.0.0.1"],
            ["no pingd named 'nobody-here'", "--server-ip"],
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, fragments):
    _one_line_error(pingctl(*args), 2, *fragments)


def test_refused_and_timeout_errors():
    with refusing_port() as port:
        _one_line_error(pingctl("status", "--server-ip", "127.0.0.1", "--port", str(port)), 2, "connection refused")
    with fake_router(lambda frame: None) as port:  # a ZeroMQ peer that never answers
        run = pingctl("status", "--server-ip", "127.0.0.1", "--port", str(port), "--timeout", "0.5")
    _one_line_error(run, 2, "no answer from pingd", "within 0.5 s", "connected, but got no pingd reply", "--timeout")


def test_storage_failure_reported_by_status_is_shown_not_fatal():
    """A daemon whose storage fails still answers status; pingctl shows the reason plainly."""
    status = {
        "count": 7,
        "node_id": "ab",
        "name": "sick",
        "version": "0",
        "protocol": 1,
        "uptime_seconds": 1,
        "pings_served": 0,
        "durability": "always",
        "storage": "cannot write /x: No space left on device",
        "security": "plain",
        "curve_public_key": None,
    }

    def reply(frame):
        return protocol.encode_status_reply(int.from_bytes(frame[4:12], "big"), status)

    with fake_router(reply) as port:
        run = pingctl("status", "--server-ip", "127.0.0.1", "--port", str(port))
    assert run.code == 0
    assert "storage      cannot write /x: No space left on device" in run.stdout


def test_debug_shows_the_traceback():
    with refusing_port() as port:
        run = pingctl("--debug", "status", "--server-ip", "127.0.0.1", "--port", str(port))
    assert run.code != 0 and "Traceback" in run.stderr


def test_version_and_help_show_defaults():
    run = pingctl("--version")
    assert run.code == 0 and run.stdout.startswith("pingctl ")
    run = pingctl("ping", "--help")
    assert run.code == 0
    text = " ".join(run.stdout.split())  # help wraps to the terminal's width
    for default in ("[default: 100]", "[default: 2.0]", "[default: 1.0]", "[default: 3.0]", "[default: 7464]"):
        assert default in text


def test_shell_completion_completes_commands_and_options():
    env = base_env(_PINGCTL_COMPLETE="complete_bash", COMP_WORDS="pingctl pi", COMP_CWORD="1")
    assert pingctl(env=env).stdout.split() == ["ping"]
    env.update(COMP_WORDS="pingctl ping --hist", COMP_CWORD="2")
    assert pingctl(env=env).stdout.split() == ["--histogram"]
