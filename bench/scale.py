"""The benchmark's rows at scale: a rack of pingd on one link, the fleet commands with default
flags, the same rack registered by DNS update in one zone, an idle daemon's wake-ups, and how
fast daemons stop.

Method. ``RACK`` daemons run on the loopback of a network namespace of their own, each
announced over mDNS on 127.0.0.1 with a port and a state file of its own (tests/support/rack.py);
pingctl runs in the same namespace with ``--mdns-interface 127.0.0.1``. Then ``RACK`` daemons
with no mDNS, each registered by DNS update (TSIG) in one zone served by BIND on another test
host (tests/support/dnsworld.py), and pingctl on a third host, another subnet, with
``--domain``. All of it shares the machine's two cores. Figures are taken in steady state (the
rack settled ``SETTLE`` s after the last daemon's status line said it is announced, or
registered), runs at least ``GAP`` s apart (RFC 6762 §6: a responder multicasts a record at most
once a second), each the wall time of a whole pingctl process, start-up included.
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from bench.table import Row, ratio_row
from tests.support.processes import Watcher, base_env, pingd_until_ready, wait_for
from tests.support.rack import Rack

RACK = 300
SETTLE = 5.0
GAP = 1.5
LO = ("--mdns-interface", "127.0.0.1")


@dataclass(frozen=True)
class Fleet:
    """A rack as pingctl meets it: where pingctl runs, the flags that find the rack, and the
    words the rows use for it."""

    rack: Rack
    prefix: tuple[str, ...]
    flags: tuple[str, ...]
    where: str  # "on one link", "registered in one zone"


def scale_rows(quick: bool) -> list[Row]:
    """The rack's rows (with ``quick``, a rack of 30 and single runs), the same through DNS-SD,
    then the idle and stop rows."""
    size = 30 if quick else RACK
    with Rack(size, prefix="bench-rack") as rack:
        fleet = Fleet(rack, tuple(rack.run_prefix), LO, "on one link")
        time.sleep(SETTLE)
        rows = [_started_row(fleet, "announced")]
        rows += _fleet_rows(fleet, quick)
        rows += _watch_rows(rack)
        exits = rack.stop_all()
        rows.append(
            Row(
                f"{size} daemons stopped together (SIGTERM to exit), slowest",
                f"{exits[-1]:.2f} s (median {statistics.median(exits):.2f} s)",
                goal="≤ 5 s",
                met=len(exits) == size and exits[-1] <= 5.0,
            )
        )
    rows += dns_rows(size, quick)
    rows.append(idle_wakeups_row(10.0 if quick else 60.0))
    rows += stop_rows(3 if quick else 9)
    return rows


def dns_rows(size: int, quick: bool) -> list[Row]:
    """``size`` daemons registered by DNS update in one zone (no mDNS), on the server host of a
    DNS world, and pingctl on its client host with ``--domain``: the fleet commands' rows."""
    from tests.support.dnsworld import DNS_ADDRESS, ZONE, DnsWorld

    with DnsWorld() as world:
        announce = ("--no-mdns", "--dns-domain", ZONE, "--dns-server", DNS_ADDRESS, "--dns-key", str(world.key_file))
        with Rack(size, "bench-dns", namespace=world.server.namespace, bind=world.server.address,
                  announce=announce, ready="DNS: registered as ") as rack:  # fmt: skip
            fleet = Fleet(rack, tuple(world.client.prefix), ("--domain", ZONE), "registered in one zone (DNS-SD)")
            time.sleep(SETTLE)
            return [_started_row(fleet, "registered"), *_fleet_rows(fleet, quick)]


def _started_row(fleet: Fleet, announced: str) -> Row:
    said = f"all started and {announced} (exec to the last status line saying so)"
    return Row(f"{fleet.rack.size} daemons {fleet.where}: {said}", f"{fleet.rack.start_seconds:.1f} s")


def _fleet_rows(fleet: Fleet, quick: bool) -> list[Row]:
    return [*_discover_rows(fleet, 1 if quick else 5), *_status_rows(fleet, 1 if quick else 3), *_ping_all_rows(fleet)]


def _ctl(fleet: Fleet, *args: str) -> tuple[float, Any]:
    started = time.monotonic()
    run = subprocess.run(
        [*fleet.prefix, sys.executable, "-m", "pingctl", *args, *fleet.flags],
        capture_output=True, text=True, env=base_env(), timeout=600,
    )  # fmt: skip
    seconds = time.monotonic() - started
    if run.returncode not in (0, 1):  # 1: some daemon did not answer, which the rows count
        raise RuntimeError(f"pingctl {' '.join(args)} exited {run.returncode}: {run.stderr[-500:]}")
    time.sleep(GAP)
    return seconds, json.loads(run.stdout)


def _discover_rows(fleet: Fleet, runs: int) -> list[Row]:
    return [_timed(fleet, runs, ("discover", "--json"), 1.5, "found", len)]


def _status_rows(fleet: Fleet, runs: int) -> list[Row]:
    def answered(rows: Any) -> int:
        return sum(1 for r in rows if isinstance(r.get("count"), int))

    return [_timed(fleet, runs, ("status", "--all", "--json"), 2.0, "answered", answered)]


def _timed(fleet: Fleet, runs: int, args: tuple[str, ...], goal: float, what: str, counted: Any) -> Row:
    """``runs`` runs of ``pingctl ARGS``: the p50 of their wall times, and how many daemons each
    run ``what`` (``counted`` of its JSON), against ``goal`` seconds and every daemon."""
    walls, counts = [], []
    size = fleet.rack.size
    for _ in range(runs):
        seconds, out = _ctl(fleet, *args)
        walls.append(seconds)
        counts.append(counted(out))
    p50 = statistics.median(walls)
    return Row(
        f"pingctl {' '.join(args[:-1])}, {size} daemons {fleet.where}, p50 of {runs}",
        f"{p50:.2f} s ({min(walls):.2f}-{max(walls):.2f}), {min(counts)}-{max(counts)} of {size} {what}",
        goal=f"≤ {goal:g} s, all {what}",
        met=p50 <= goal and min(counts) == size,
    )


def _ping_all_rows(fleet: Fleet) -> list[Row]:
    """ping --all -c 10 -i 0.1 against the rack, and a lone session (ping --name) against one
    of its daemons with the same flags, before and after: the same client, the same daemons.
    The last row is what the worst daemon's p50 would be by sampling alone, were every daemon
    exactly like the lone sessions: the worst of as many medians of 10 drawn from their round
    trips (the worst of hundreds of medians is an extreme, not a typical daemon)."""
    flags = ("-c", "10", "-i", "0.1", "--json")
    rack = fleet.rack
    lone = [_ctl(fleet, "ping", "--name", rack.members[i].name, *flags, "--samples")[1] for i in (0, 1)]
    seconds, reports = _ctl(fleet, "ping", "--all", *flags, "--samples")
    lone += [_ctl(fleet, "ping", "--name", rack.members[i].name, *flags, "--samples")[1] for i in (2, 3)]
    lost = sum(r.get("lost", 10) for r in reports)  # a daemon with no session: all ten lost
    p50s = sorted(r["rtt_ms"]["p50"] * 1000 if r.get("rtt_ms") else math.inf for r in reports)
    base = statistics.median(r["rtt_ms"]["p50"] for r in lone) * 1000
    drawn = [s["rtt_ms"] * 1000 for r in lone for s in r["samples"] if s.get("rtt_ms") is not None]
    what = f"pingctl ping --all -c 10 -i 0.1, {rack.size} daemons {fleet.where}"
    return [
        Row(f"{what}: sessions, pongs lost, wall", f"{len(reports)} sessions, {lost} lost, {seconds:.2f} s",
            goal=f"{rack.size} sessions, 0 lost", met=len(reports) == rack.size and lost == 0),
        ratio_row(f"{what}, p50 RTT, median daemon ÷ one session (ping --name)", statistics.median(p50s), base, None),
        ratio_row(f"{what}, p50 RTT, worst daemon ÷ one session (ping --name)", p50s[-1], base, 1.5),
        ratio_row(f"{what}, p50 RTT, worst daemon by sampling alone (the worst of {len(reports)} medians of 10 "
                  "drawn from the lone sessions' round trips) ÷ one session", worst_median(drawn, len(reports)),
                  base, None),
        _shared_row(what, reports, 1.5 * base / 1000, 0.1),
    ]  # fmt: skip


def _shared_row(what: str, reports: list[dict], slow_ms: float, interval: float) -> Row:
    """Whether the worst daemon's slow pings were its own or the moment's (see shared_slowness)."""
    mine, slow, near, near_slow = shared_slowness(reports, slow_ms, interval)
    share = f"{100 * near_slow / near:.0f} %" if near else "-"
    overall = sum(1 for r in reports for x in r.get("samples", []) if (x["rtt_ms"] or math.inf) > slow_ms)
    total = sum(len(r.get("samples", [])) for r in reports)
    return Row(
        f"{what}: the worst daemon's pings over 1.5× a lone session's p50, and how many of the other daemons' "
        "pings within 2 ms of those were too (against all pings)",
        f"{slow} of {mine}; {share} of {near} near them (all: {100 * overall / max(total, 1):.0f} % of {total})",
    )


def shared_slowness(
    reports: list[dict], slow_ms: float, interval: float, near_s: float = 0.002
) -> tuple[int, int, int, int]:
    """The worst daemon's (highest p50) pings, how many were slower than ``slow_ms``, the other
    daemons' pings sent within ``near_s`` of those slow ones, and how many of those were slow
    too. Pings are placed on the schedule ``ping --all`` keeps: session k of N starts k/N of
    an interval in, then one ping an interval. A high share says the machine was slow at
    those moments (every daemon's pings then); a share like the overall one, that the worst
    daemon was slow on its own."""
    sessions = [r for r in reports if r.get("samples")]
    if not sessions:
        return 0, 0, 0, 0
    n = len(sessions)

    def when(k: int, seq: int) -> float:
        return k * interval / n + (seq - 1) * interval

    def slow(sample: dict) -> bool:
        return sample["rtt_ms"] is None or sample["rtt_ms"] > slow_ms

    worst = max(range(n), key=lambda k: sessions[k]["rtt_ms"]["p50"] if sessions[k].get("rtt_ms") else math.inf)
    moments = [when(worst, x["seq"]) for x in sessions[worst]["samples"] if slow(x)]
    near = [
        x for k, r in enumerate(sessions) if k != worst for x in r["samples"]
        if any(abs(when(k, x["seq"]) - t) <= near_s for t in moments)
    ]  # fmt: skip
    return len(sessions[worst]["samples"]), len(moments), len(near), sum(1 for x in near if slow(x))


def worst_median(rtts: list[float], daemons: int, pings: int = 10, trials: int = 200) -> float:
    """The worst of ``daemons`` medians of ``pings`` round trips drawn from ``rtts`` (with
    replacement), the median over ``trials``: what the worst daemon's p50 is by chance alone."""
    draw = random.Random(0).choices
    worst = [max(statistics.median(draw(rtts, k=pings)) for _ in range(daemons)) for _ in range(trials)]
    return statistics.median(worst)


def _watch_rows(rack: Rack) -> list[Row]:
    """discover --watch: how long until every daemon is shown, how soon after each of ten
    daemons' SIGTERM (their goodbye) its removal is shown, and how soon it exits after Ctrl-C
    (one that does not within 10 s is shown with the stacks it printed when aborted)."""
    watcher = Watcher(*LO, "--json", prefix=rack.run_prefix)
    try:
        started = time.monotonic()

        def shown(event: str) -> dict[str, float]:
            return {json.loads(line)["name"]: t for t, line in watcher.lines if f'"{event}"' in line}

        wait_for(lambda: len(shown("added")) >= rack.size, 60, "every daemon to be shown")
        all_shown = max(shown("added").values()) - started
        leaving = rack.members[-10:]
        stopped = {}
        for m in leaving:
            stopped[m.name] = time.monotonic()
            m.proc.send_signal(signal.SIGTERM)
        wait_for(lambda: {m.name for m in leaving} <= set(shown("removed")), 30, "every goodbye to be shown")
        late = max(shown("removed")[n] - t for n, t in stopped.items())
    except BaseException:
        watcher.kill()
        raise
    interrupted = time.monotonic()
    try:
        watcher.stop()
        seconds = time.monotonic() - interrupted
        ended, exited = f"{seconds:.2f} s", seconds <= 2.0
    except AssertionError as exc:  # shown with where its main thread was, not the end of the run
        said = str(exc)
        main_thread = max(0, said.find("Current thread"))
        ended, exited = " ".join(said[main_thread:].split())[:600], False
    return [
        Row(f"pingctl discover --watch, {rack.size} daemons: all shown", f"{all_shown:.2f} s"),
        Row("discover --watch: a daemon's removal after its SIGTERM, slowest of 10", f"{late:.2f} s",
            goal="≤ 1 s", met=late <= 1.0),
        Row("discover --watch: its exit after Ctrl-C", ended, goal="≤ 2 s", met=exited),
    ]  # fmt: skip


def idle_wakeups_row(seconds: float) -> Row:
    """An idle pingd announcing over mDNS, alone on the loopback of a namespace of its own:
    voluntary context switches of all its threads (/proc/PID/task/*/status) over ``seconds``."""
    with Rack(1, prefix="bench-idle") as rack:
        pid = rack.members[0].proc.pid
        time.sleep(SETTLE)
        before = _switches(pid)
        time.sleep(seconds)
        rate = (_switches(pid) - before) / seconds
    return Row(
        f"idle pingd with mDNS: wake-ups (voluntary context switches, all threads, {seconds:g} s)",
        f"{rate:.2f} per second",
        goal="≤ 1 per second",
        met=rate <= 1.0,
    )


def _switches(pid: int) -> int:
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        for line in (task / "status").read_text().splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                total += int(line.split()[1])
    return total


def stop_rows(runs: int) -> list[Row]:
    """One pingd stopped, SIGTERM to exit, the median of ``runs``: announced over mDNS on
    loopback, and also registered in a DNS domain (BIND on another test host), once its
    log says it is announced (and registered): the goodbyes and the records' removal are part
    of the stop."""
    from tests.support.dnsworld import DNS_ADDRESS, ZONE, DnsWorld

    rows = []
    mdns = ("--bind", "127.0.0.1", *LO)
    rows.append(_stop_row("one pingd with mDNS stopped (SIGTERM to exit), median", runs, mdns, (), ("announced as",)))
    with DnsWorld() as world:
        dns = ("--bind", "*", "--dns-domain", ZONE, "--dns-server", DNS_ADDRESS, "--dns-key", str(world.key_file))
        what = "one pingd with mDNS and DNS registration stopped (SIGTERM to exit), median"
        rows.append(_stop_row(what, runs, dns, tuple(world.server.prefix), ("announced as", "DNS: registered")))
    return rows


def _stop_row(what: str, runs: int, flags: tuple[str, ...], prefix: tuple[str, ...], ready: tuple[str, ...]) -> Row:
    walls = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp, open(os.path.join(tmp, "log"), "w") as log:
            args = (*flags, "--port", "0", "--name", "bench-stop", "--log-level", "info",
                    "--state-file", os.path.join(tmp, "state.json"))  # fmt: skip
            with pingd_until_ready(args, env=base_env(), prefix=prefix, stderr=log) as d:
                wait_for(partial(_says, Path(tmp, "log"), ready), 30, "pingd to be announced")
                sent = time.monotonic()
                d.proc.send_signal(signal.SIGTERM)
                d.proc.wait(30)
                walls.append(time.monotonic() - sent)
    p50 = statistics.median(walls)
    return Row(what, f"{p50:.3f} s", goal="≤ 1 s", met=p50 <= 1.0)


def _says(log: Path, words: tuple[str, ...]) -> bool:
    text = log.read_text()
    return all(w in text for w in words)
