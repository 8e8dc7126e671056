"""pingd under load, crashes, restarts and a daemon that comes and goes mid-session."""

from __future__ import annotations

import random
import signal
import time

from pingctl.client import PingClient, Target
from tests.support.load import Pinger, collect, load_process
from tests.support.processes import free_port, pingctl_background, rss_kib, wait_for


def _count(port: int) -> int:
    with PingClient(Target("127.0.0.1", port), 5.0) as client:
        return client.status().count


def test_fifty_clients_at_once_get_unique_counts_and_exact_total(spawn_daemon):
    daemon = spawn_daemon()
    before = _count(daemon.port)
    procs = [load_process(daemon.port, "--pings", "200", "--counts") for _ in range(50)]
    try:
        results = collect(procs)
    finally:
        for p in procs:
            p.kill()
    counts = [c for r in results for c in r["counts"]]
    assert all(r["received"] == 200 and r["lost"] == 0 and r["errors"] == 0 for r in results)
    assert len(counts) == 10_000
    assert len(set(counts)) == 10_000  # one owner of the count: no two pings share a number
    assert set(counts) == set(range(before + 1, before + 10_001))
    assert _count(daemon.port) == before + 10_000


def test_crash_torture_never_loses_an_acknowledged_ping(spawn_daemon, state_dir):
    port = free_port()
    rng = random.Random(20261124)
    for round_ in range(10):
        daemon = spawn_daemon("--port", str(port))
        start = _count(port)
        with Pinger(port) as pinger:
            wait_for(lambda: pinger.highest > start, 10, "the first acknowledged ping")  # noqa: B023
            time.sleep(rng.uniform(0.0, 0.3))  # the random moment of the crash (not a synchronisation)
            daemon.signal(signal.SIGKILL)
            daemon.wait()
            acknowledged = pinger.highest
        again = spawn_daemon("--port", str(port))
        persisted = _count(port)
        assert persisted >= acknowledged, f"round {round_}: persisted {persisted} < acknowledged {acknowledged}"
        assert persisted <= start + pinger.sent, f"round {round_}: persisted {persisted} > pings sent"
        again.stop()


def test_session_survives_a_daemon_restart(spawn_daemon, state_dir):
    port = free_port()
    daemon = spawn_daemon("--port", str(port))
    session = pingctl_background(
        "ping",
        "--server-ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--count",
        "30",
        "--interval",
        "0.05",
        "--timeout",
        "0.5",
    )
    lines = session.lines
    try:
        wait_for(lambda: session.count("pong") >= 5, 20, "five pongs")
        assert daemon.stop() == 0
        wait_for(lambda: session.count("no reply") >= 1, 20, "a lost ping")
        spawn_daemon("--port", str(port))
        code = session.wait(60)
    finally:
        session.kill()
    assert code == 0, session.proc.stderr.read()
    pongs = [line for line in lines if line.startswith("pong")]
    counts = [int(line.split("count=")[1].split()[0]) for line in pongs]
    assert counts == sorted(counts) and len(set(counts)) == len(counts)
    assert counts[-1] == len(pongs)  # the count continued from the persisted value, no gaps
    summary = next(line for line in lines if "pings transmitted" in line)
    lost = 30 - len(pongs)
    assert summary.startswith(f"30 pings transmitted, {len(pongs)} received, {lost} lost") and lost >= 1


def test_memory_stays_flat_over_200000_pings_from_reconnecting_clients(spawn_daemon):
    daemon = spawn_daemon()
    pid = daemon.proc.pid

    def run(total: int) -> None:
        per = total // 4
        results = collect([load_process(daemon.port, "--pings", str(per), "--per-connection", "500") for _ in range(4)])
        assert sum(r["received"] for r in results) == 4 * per

    run(10_000)
    after_warmup = rss_kib(pid)
    run(190_000)
    after_all = rss_kib(pid)
    growth_mb = (after_all - after_warmup) / 1024
    print(
        f"pingd RSS: {after_warmup / 1024:.1f} MB after 10,000 pings, "
        f"{after_all / 1024:.1f} MB after 200,000 (+{growth_mb:.2f} MB)"
    )
    assert growth_mb < 5
    assert _count(daemon.port) == 200_000
