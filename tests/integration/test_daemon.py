"""The real pingd and pingctl as subprocesses on 127.0.0.1."""

from __future__ import annotations

import json
import signal

from tests.support.processes import free_port, pingctl


def _status(port: int) -> dict:
    run = pingctl("status", "--server-ip", "127.0.0.1", "--port", str(port), "--json")
    assert run.code == 0, run.stderr
    return run.json()


def test_hundred_ping_session_counts_exactly_one_hundred(spawn_daemon):
    daemon = spawn_daemon()
    before = _status(daemon.port)["count"]
    run = pingctl("ping", "--server-ip", "127.0.0.1", "--port", str(daemon.port), "--interval", "0", "--json")
    assert run.code == 0, run.stderr
    report = run.json()
    assert (report["sent"], report["received"], report["lost"]) == (100, 100, 0)
    assert report["last_count"] == before + 100
    assert _status(daemon.port)["count"] == before + 100
    rtt = report["rtt_ms"]
    assert 0 < rtt["min"] <= rtt["p50"] <= rtt["p90"] <= rtt["p99"] <= rtt["max"]
    assert rtt["avg"] < 1000 * report["total_seconds"] / 100 * 1.01 + 1e-9  # the RTT is not the pacing
    assert report["server"]["port"] == daemon.port
    assert report["server"]["address"] == "127.0.0.1"
    assert report["server"]["node_id"] == _status(daemon.port)["node_id"]


def test_text_output_has_a_line_per_pong_and_a_summary(spawn_daemon):
    daemon = spawn_daemon()
    run = pingctl("ping", "--server-ip", "127.0.0.1", "--port", str(daemon.port), "-c", "3", "-i", "0.01")
    assert run.code == 0, run.stderr
    lines = run.stdout.splitlines()
    pongs = [line for line in lines if line.startswith("pong from 127.0.0.1:")]
    assert [p.split()[3] for p in pongs] == ["seq=1", "seq=2", "seq=3"]
    assert all(p.endswith(" ms") for p in pongs)
    assert "3 pings transmitted, 3 received, 0 lost, 0% loss" in run.stdout
    assert any(line.startswith("rtt min/avg/max/mdev = ") for line in lines)
    assert any(line.startswith("rtt p50/p90/p99 = ") for line in lines)


def test_interval_paces_pings_but_is_not_in_the_rtt(spawn_daemon):
    daemon = spawn_daemon()
    run = pingctl("ping", "--server-ip", "127.0.0.1", "--port", str(daemon.port), "-c", "3", "-i", "0.3", "--json")
    report = run.json()
    assert report["total_seconds"] >= 0.6  # two gaps of 0.3 s
    assert report["rtt_ms"]["max"] < 300


def test_restart_keeps_the_count_and_the_node_id(spawn_daemon, state_dir):
    daemon = spawn_daemon()
    pingctl("ping", "--server-ip", "127.0.0.1", "--port", str(daemon.port), "-c", "7", "-i", "0")
    first = _status(daemon.port)
    assert daemon.stop() == 0
    assert json.loads((state_dir / "state.json").read_text())["count"] == first["count"]
    again = spawn_daemon()
    second = _status(again.port)
    assert (second["count"], second["node_id"]) == (first["count"], first["node_id"])


def test_sigkill_right_after_a_burst_loses_no_acknowledged_ping(spawn_daemon):
    for sync in ("periodic", "always"):
        daemon = spawn_daemon("--sync", sync)
        run = pingctl("ping", "--server-ip", "127.0.0.1", "--port", str(daemon.port), "-c", "300", "-i", "0", "--json")
        acknowledged = run.json()["last_count"]
        daemon.signal(signal.SIGKILL)
        daemon.wait()
        again = spawn_daemon("--sync", sync)
        assert _status(again.port)["count"] == acknowledged
        again.stop()


def test_corrupt_state_file_stops_startup_and_is_left_unchanged(spawn_daemon, state_dir):
    path = state_dir / "state.json"
    garbage = b'{"format": 1, "node_id": "abc", "count": 12'
    path.write_bytes(garbage)
    daemon = spawn_daemon(wait_ready=False)
    assert daemon.wait() == 3
    assert path.read_bytes() == garbage
    errors = [line for line in daemon.lines if "state file" in line]
    assert len(errors) == 1 and str(path) in errors[0] and "not valid JSON" in errors[0]
    assert "Traceback" not in daemon.output


def test_second_daemon_on_the_same_state_file_is_refused(spawn_daemon):
    spawn_daemon()
    second = spawn_daemon(wait_ready=False)
    assert second.wait() == 3
    assert "in use by another pingd" in second.output


def test_port_in_use_is_a_clear_error(spawn_daemon, tmp_path):
    first = spawn_daemon()
    second = spawn_daemon("--port", str(first.port), state_file=tmp_path / "other.json", wait_ready=False)
    assert second.wait() == 4
    assert "cannot listen on 127.0.0.1" in second.output
    assert "Traceback" not in second.output


def test_ping_where_nothing_listens_exits_2_within_the_timeout():
    port = free_port()
    run = pingctl("ping", "--server-ip", "127.0.0.1", "--port", str(port), "--timeout", "1")
    assert run.code == 2
    assert run.seconds < 1 + 5  # the timeout plus interpreter start-up on a loaded machine
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "127.0.0.1" in lines[0] and "refused" in lines[0]
    assert run.stdout == ""


def test_unresolvable_host_exits_2_with_one_line():
    run = pingctl("ping", "--server-ip", "no-such-host.invalid", "--timeout", "1")
    assert run.code == 2
    assert run.stderr.count("\n") == 1 and "cannot resolve 'no-such-host.invalid'" in run.stderr


def test_ipv6_loopback(spawn_daemon, state_dir):
    daemon = spawn_daemon("--bind", "::1")
    run = pingctl("ping", "--server-ip", "::1", "--port", str(daemon.port), "-c", "2", "-i", "0", "--json")
    assert run.code == 0, run.stderr
    assert run.json()["received"] == 2 and run.json()["server"]["address"] == "::1"


def test_wildcard_bind_serves_ipv4_and_ipv6(spawn_daemon):
    daemon = spawn_daemon("--bind", "*")
    assert any("listening on tcp://127.0.0.1:" in line for line in daemon.lines)
    for address in ("127.0.0.1", "::1"):
        run = pingctl("ping", "--server-ip", address, "--port", str(daemon.port), "-c", "1", "--json")
        assert run.code == 0, run.stderr


def test_sigterm_exits_0_and_persists(spawn_daemon, state_dir):
    daemon = spawn_daemon()
    pingctl("ping", "--server-ip", "127.0.0.1", "--port", str(daemon.port), "-c", "5", "-i", "0")
    assert daemon.stop() == 0
    assert json.loads((state_dir / "state.json").read_text())["count"] == 5
    assert "stopped, count 5" in daemon.output
