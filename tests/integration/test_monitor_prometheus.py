"""`pingctl monitor` scraped by a real Prometheus (Debian's), read back through its HTTP API as
an operator's dashboards read it: the monitor's target is up, the daemons' median round trips
as Prometheus computes them from the monitor's histogram are those `pingctl ping` sessions
measure on the same daemons, and a daemon stopped with SIGTERM shows as down within two
scrape intervals.

Each daemon's median, as Prometheus computes it from the monitor's histogram (whose buckets,
four to a doubling, read a median to within about 10 %), is held to 20 % of the p50 that
`pingctl ping` reports for a session on the same daemon, run while the monitor probes, over
the window the figure is read for; daemons on one core, clients on the other.
"""

from __future__ import annotations

import os
import signal
import statistics
import time
from pathlib import Path

import pytest

from bench.prober import quantile
from tests.conftest import require
from tests.support import prometheus
from tests.support.processes import Daemon, base_env, free_port, pingctl, pingctl_background, wait_for
from tests.support.prometheus import INTERVAL, wait_for_value

DAEMONS = 3
#: Rounds per daemon, its median held to 20 %: three let two rounds in one busy minute of the
#: other test worker decide it (seen once in CI: 1.30, >1.2, 0.99); five spread over a minute.
ROUNDS = 5
#: The daemons on one core, the monitor and the sessions on the other, as `make bench` places
#: them: left to the scheduler, where each process's threads land moves a p50 by half again
#: from one minute to the next (docs/performance.md), whatever the software.
#: As root (CI), the measured processes also run before the other test worker's (nice -10):
#: twice a daemon's median of the rounds came out over 1.2 while that worker kept its core busy.
_CPUS = sorted(os.sched_getaffinity(0))
_FIRST = ("nice", "-n", "-10") if os.geteuid() == 0 else ()
SERVERS = (*_FIRST, "taskset", "-c", str(_CPUS[-1])) if len(_CPUS) > 1 else _FIRST
CLIENTS = (*_FIRST, "taskset", "-c", str(_CPUS[0])) if len(_CPUS) > 1 else _FIRST


@pytest.fixture
def fleet(tmp_path: Path):
    """Three pingd on loopback, a monitor probing them by address every 0.05 s, and a
    Prometheus scraping the monitor as job "pingctl-monitor"; all stopped at the end."""
    require(prometheus.available())
    daemons = []
    monitor = None
    try:
        for i in range(DAEMONS):
            args = ["--bind", "127.0.0.1", "--port", "0", "--no-mdns", "--name", f"prom-{i}",
                    "--state-file", str(tmp_path / f"{i}.json")]  # fmt: skip
            daemons.append(Daemon(args=args, env=base_env(), prefix=SERVERS).start())
        listen = f"127.0.0.1:{free_port()}"
        given = [a for d in daemons for a in ("--server-ip", f"127.0.0.1:{d.port}")]
        flags = ("--interval", "0.05", "--timeout", "0.5", "--listen", listen)
        monitor = pingctl_background("monitor", *given, *flags, prefix=CLIENTS)
        with prometheus.running(tmp_path / "prometheus", {"pingctl-monitor": [listen]}) as server:
            yield daemons, server
    finally:
        if monitor is not None:
            monitor.kill()
        for daemon in daemons:
            daemon.kill()


def answering(server: prometheus.Prometheus) -> dict[str, float]:
    return {labels["address"]: value for labels, value, _ in server.query("pingctl_monitor_up == 1")}


def test_the_monitors_round_trips_are_a_ping_sessions_and_a_stopped_daemon_is_down(fleet) -> None:
    daemons, server = fleet
    wait_for_value(server, 'up{job="pingctl-monitor"}', 1, 15)
    addresses = [f"127.0.0.1:{d.port}" for d in daemons]
    wait_for(lambda: sorted(answering(server)) == sorted(addresses), 15, "every daemon up in Prometheus")
    names = {labels["address"]: labels["name"] for labels, _, _ in server.query("pingctl_monitor_up")}
    assert names == {a: f"prom-{i}" for i, a in enumerate(addresses)}  # each named by its STATUS

    rounds = [_round(server, daemons, addresses) for _ in range(ROUNDS)]
    print("the monitor's p50 ÷ the session's, per round:", [[f"{r[a]:.2f}" for a in addresses] for r in rounds])
    # Each daemon's median ratio over the rounds: a machine shared with other work sometimes
    # slows one window alone.
    for address in addresses:
        ratio = statistics.median(r[address] for r in rounds)
        assert 0.8 <= ratio <= 1.2, (address, rounds)

    leaving, address = daemons[-1], addresses[-1]
    stopped_at = time.time()
    leaving.signal(signal.SIGTERM)
    assert leaving.wait(10) == 0
    expr = f'pingctl_monitor_up{{address="{address}"}}'
    wait_for_value(server, expr, 0, 10 * INTERVAL)
    down_at = server.query(f"timestamp({expr} == 0)")[0][1]  # the scrape that saw it down
    assert down_at - stopped_at <= 2 * INTERVAL, f"down {down_at - stopped_at:.2f} s after SIGTERM"
    assert sorted(answering(server)) == sorted(addresses[:-1])


def _round(server: prometheus.Prometheus, daemons: list[Daemon], addresses: list[str]) -> dict[str, float]:
    """A session on each daemon in turn; for each, the monitor's p50 over the session's window
    (read as Prometheus reads it) ÷ the p50 the session reported."""
    ratios = {}
    for daemon, address in zip(daemons, addresses, strict=True):
        monitored, reported = _session_and_monitor(server, daemon.port, address)
        ratios[address] = quantile(0.5, monitored) / reported
    return ratios


def _session_and_monitor(
    server: prometheus.Prometheus, port: int, address: str
) -> tuple[list[tuple[float, float]], float]:
    """A 3 s session on the daemon at ``port``; the monitor's buckets for it over the same
    window, as Prometheus computes them, and the p50 the session reported (seconds)."""
    began = time.time()
    run = pingctl("ping", "--server-ip", "127.0.0.1", "--port", str(port), "-c", "60", "-i", "0.05", "--json",
                  prefix=CLIENTS)  # fmt: skip
    assert run.code == 0, run.stderr
    ended = time.time()
    last = lambda: server.query('timestamp(up{job="pingctl-monitor"})')[0][1]  # noqa: E731
    at = wait_for(lambda: (t := last()) > ended and t, 10, "a scrape after the session's end")
    buckets = f'increase(pingctl_monitor_rtt_seconds_bucket{{address="{address}"}}[{at - began:.0f}s])'
    found = server.api("query", query=buckets, time=f"{at:.3f}")["result"]
    monitored = sorted((float(r["metric"]["le"]), float(r["value"][1])) for r in found)
    (p50,) = server.api("query", query=f"histogram_quantile(0.5, sum by (le) ({buckets}))", time=f"{at:.3f}")["result"]
    assert float(p50["value"][1]) == pytest.approx(quantile(0.5, monitored))  # read as Prometheus reads it
    return monitored, run.json()["rtt_ms"]["p50"] / 1000
