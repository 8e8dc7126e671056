"""`make bench`'s rows for `pingctl monitor`: what probing twenty daemons every second costs the
monitor in CPU, and whether the round trips it reports are those a lone `pingctl ping` session
measures on the same daemons.

The daemons are a rack (tests/support/rack.py) on the loopback of a namespace of their own,
announced over mDNS, on the servers' core; the monitor and the sessions run there too, on the
clients' core (the placement of the RTT rows). The monitor's CPU is read from /proc/PID/stat
over the window; its round trips from its own histogram, the window's buckets (the scrape at
its end less the scrape at its start), read the way Prometheus' histogram_quantile reads them.
The lone sessions then ping a few of the same daemons, one at a time, at the same interval.

The monitor's medians are read from its histogram, whose buckets (four to a doubling from
50 µs) hold a median to about 10 % of the truth; the sessions' are the p50 they report.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

from bench.table import Row, ratio_row
from pingctl.exposition import RTT_BUCKETS
from tests.support.processes import pingctl, wait_for
from tests.support.rack import Rack

DAEMONS = 20
INTERVAL = 1.0
LO = ("--mdns-interface", "127.0.0.1")


def quantile(q: float, cumulative: list[tuple[float, float]]) -> float:
    """Prometheus' histogram_quantile over ``(upper bound, cumulative count)`` pairs, +Inf last:
    linear within the bucket the rank falls in; the highest finite bound if it falls past it."""
    total = cumulative[-1][1]
    if total == 0:
        return float("nan")
    rank = q * total
    lower, below = 0.0, 0.0
    for upper, count in cumulative:
        if count >= rank:
            if upper == float("inf"):
                return lower
            return lower + (upper - lower) * (rank - below) / (count - below) if count > below else lower
        lower, below = upper, count
    return lower


def bucketed(seconds: list[float]) -> list[tuple[float, float]]:
    """Round trips in the monitor's buckets, cumulative, +Inf last."""
    bounds = [*RTT_BUCKETS, float("inf")]
    return [(b, float(sum(s <= b for s in seconds))) for b in bounds]


def monitor_rows(
    quick: bool,
    cpus: tuple[set[int], set[int]],
    on_cpus: Callable[[set[int]], contextlib.AbstractContextManager[None]],
    env: dict[str, str],
) -> list[Row]:
    """The rows; ``cpus`` are the servers' and the clients' (bench's placement), ``on_cpus``
    pins this process, and what it starts, to some."""
    window = 10.0 if quick else 60.0
    lone_count, lone_daemons = (5, 1) if quick else (20, 3)
    server_cpus, client_cpus = cpus
    with on_cpus(server_cpus), Rack(DAEMONS, prefix="bench-mon") as rack, on_cpus(client_cpus):
        with _monitor(rack, env) as (pid, scrape):
            wait_for(lambda: len(_received(scrape())) == DAEMONS, 60, f"all {DAEMONS} daemons answering")
            start, ticks = scrape(), _cpu_ticks(pid)
            began = time.monotonic()
            time.sleep(window)  # the measured window: the monitor runs alone
            end, used = scrape(), _cpu_ticks(pid) - ticks
            elapsed = time.monotonic() - began
        core = 100 * used / os.sysconf("SC_CLK_TCK") / elapsed
        per_daemon = {name: quantile(0.5, _delta(end[name], start.get(name))) for name in end}
        lone = []
        for member in rack.members[:lone_daemons]:
            run = pingctl("ping", "--name", member.name, "--count", str(lone_count), "--interval", str(INTERVAL),
                          "--json", *LO, prefix=rack.run_prefix, env=env, timeout=600)  # fmt: skip
            if run.code != 0:
                raise RuntimeError(f"pingctl ping failed: {run.stderr}")
            lone.append(run.json()["rtt_ms"]["p50"] / 1000)
    each = sorted(v * 1e6 for v in per_daemon.values())
    base = statistics.median(lone) * 1e6
    what = f"pingctl monitor, {DAEMONS} daemons at --interval {INTERVAL:g}"
    return [
        Row(f"{what}: CPU over {window:g} s", f"{core:.1f} % of one core", "", "", "< 10 %", core < 10),
        ratio_row(f"{what}: p50 RTT from its histogram, worst daemon ÷ a lone ping session's p50",
                  each[-1], base, 1.2),
        ratio_row(f"{what}: p50 RTT from its histogram, median daemon ÷ a lone ping session's p50",
                  statistics.median(each), base, None),
    ]  # fmt: skip


Scraped = dict[str, list[tuple[float, float]]]  # daemon name → its cumulative buckets


@contextlib.contextmanager
def _monitor(rack: Rack, env: dict[str, str]) -> Iterator[tuple[int, Callable[[], Scraped]]]:
    """The monitor in the rack's namespace on port 7466 (the namespace's own), and a scrape."""
    args = ["monitor", *LO, "--interval", str(INTERVAL), "--listen", "127.0.0.1:7466"]
    proc = subprocess.Popen([*rack.run_prefix, sys.executable, "-m", "pingctl", *args], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    code = (
        "import urllib.request as u, sys; sys.stdout.write(u.urlopen('http://127.0.0.1:7466/metrics').read().decode())"
    )

    def scrape() -> Scraped:
        run = subprocess.run([*rack.run_prefix, sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
        return _buckets(run.stdout) if run.returncode == 0 else {}

    try:
        yield proc.pid, scrape
    finally:
        proc.terminate()
        proc.wait(15)


def _buckets(text: str) -> Scraped:
    from prometheus_client.parser import text_string_to_metric_families

    out: Scraped = {}
    for family in text_string_to_metric_families(text):
        if family.name == "pingctl_monitor_rtt_seconds":
            for s in family.samples:
                if s.name.endswith("_bucket"):
                    out.setdefault(s.labels["name"], []).append((float(s.labels["le"]), s.value))
    return {name: sorted(rows) for name, rows in out.items()}


def _received(scraped: Scraped) -> list[str]:
    return [name for name, rows in scraped.items() if rows and rows[-1][1] > 0]


def _delta(end: list[tuple[float, float]], start: list[tuple[float, float]] | None) -> list[tuple[float, float]]:
    before = dict(start or [])
    return [(le, count - before.get(le, 0.0)) for le, count in end]


def _cpu_ticks(pid: int) -> int:
    """User and system clock ticks of ``pid``, all its threads (/proc/PID/stat, fields 14-15)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])
