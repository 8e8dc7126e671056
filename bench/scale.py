"""The benchmark's rows at scale: a rack of pingd on one link, the fleet commands with default
flags, an idle daemon's wake-ups, and how fast daemons stop.

Method. ``RACK`` daemons run on the loopback of a network namespace of their own, each
announced over mDNS on 127.0.0.1 with a port and a state file of its own (tests/support/rack.py);
pingctl runs in the same namespace with ``--mdns-interface 127.0.0.1``. All of it shares the
machine's two cores. Figures are taken in steady state (the rack settled ``SETTLE`` s after the
last daemon's status line said it is announced), runs at least ``GAP`` s apart (RFC 6762 §6: a responder multicasts a
record at most once a second), each the wall time of a whole pingctl process, start-up included.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
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


def scale_rows(quick: bool) -> list[Row]:
    """The rack's rows (with ``quick``, a rack of 30 and single runs), then the idle and stop rows."""
    size = 30 if quick else RACK
    with Rack(size, prefix="bench-rack") as rack:
        started = rack.start_seconds
        time.sleep(SETTLE)
        what = f"{size} daemons on one link: all started and announced (exec to the last status line saying so)"
        rows = [Row(what, f"{started:.1f} s")]
        rows += _discover_rows(rack, 1 if quick else 5)
        rows += _status_rows(rack, 1 if quick else 3)
        rows += _ping_all_rows(rack)
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
    rows.append(idle_wakeups_row(10.0 if quick else 60.0))
    rows += stop_rows(3 if quick else 9)
    return rows


def _ctl(rack: Rack, *args: str) -> tuple[float, Any]:
    started = time.monotonic()
    run = subprocess.run(
        [*rack.run_prefix, sys.executable, "-m", "pingctl", *args, *LO],
        capture_output=True, text=True, env=base_env(), timeout=600,
    )  # fmt: skip
    seconds = time.monotonic() - started
    if run.returncode != 0:
        raise RuntimeError(f"pingctl {' '.join(args)} exited {run.returncode}: {run.stderr[-500:]}")
    time.sleep(GAP)
    return seconds, json.loads(run.stdout)


def _discover_rows(rack: Rack, runs: int) -> list[Row]:
    return [_timed(rack, runs, ("discover", "--json"), 1.5, "found", len)]


def _status_rows(rack: Rack, runs: int) -> list[Row]:
    def answered(rows: Any) -> int:
        return sum(1 for r in rows if isinstance(r.get("count"), int))

    return [_timed(rack, runs, ("status", "--all", "--json"), 2.0, "answered", answered)]


def _timed(rack: Rack, runs: int, args: tuple[str, ...], goal: float, what: str, counted: Any) -> Row:
    """``runs`` runs of ``pingctl ARGS``: the p50 of their wall times, and how many daemons each
    run ``what`` (``counted`` of its JSON), against ``goal`` seconds and every daemon."""
    walls, counts = [], []
    for _ in range(runs):
        seconds, out = _ctl(rack, *args)
        walls.append(seconds)
        counts.append(counted(out))
    p50 = statistics.median(walls)
    return Row(
        f"pingctl {' '.join(args[:-1])}, {rack.size} daemons on one link, p50 of {runs}",
        f"{p50:.2f} s ({min(walls):.2f}-{max(walls):.2f}), {min(counts)}-{max(counts)} of {rack.size} {what}",
        goal=f"≤ {goal:g} s, all {what}",
        met=p50 <= goal and min(counts) == rack.size,
    )


def _ping_all_rows(rack: Rack) -> list[Row]:
    """ping --all -c 10 -i 0.1 against the rack, and a lone session (ping --name) against one
    of its daemons with the same flags, before and after: the same client, the same daemons."""
    flags = ("-c", "10", "-i", "0.1", "--json")
    lone = [_ctl(rack, "ping", "--name", rack.members[i].name, *flags)[1]["rtt_ms"]["p50"] for i in (0, 1)]
    seconds, reports = _ctl(rack, "ping", "--all", *flags)
    lone += [_ctl(rack, "ping", "--name", rack.members[i].name, *flags)[1]["rtt_ms"]["p50"] for i in (2, 3)]
    lost = sum(r["lost"] for r in reports)
    p50s = sorted(r["rtt_ms"]["p50"] * 1000 for r in reports)
    base = statistics.median(lone) * 1000
    what = f"pingctl ping --all -c 10 -i 0.1, {rack.size} daemons"
    return [
        Row(f"{what}: sessions, pongs lost, wall", f"{len(reports)} sessions, {lost} lost, {seconds:.2f} s",
            goal=f"{rack.size} sessions, 0 lost", met=len(reports) == rack.size and lost == 0),
        ratio_row(f"{what}, p50 RTT, median daemon ÷ one session (ping --name)", statistics.median(p50s), base, None),
        ratio_row(f"{what}, p50 RTT, worst daemon ÷ one session (ping --name)", p50s[-1], base, 1.5),
    ]  # fmt: skip


def _watch_rows(rack: Rack) -> list[Row]:
    """discover --watch: how long until every daemon is shown, and how soon after each of ten
    daemons' SIGTERM (their goodbye) its removal is shown."""
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
    finally:
        watcher.stop()
    return [
        Row(f"pingctl discover --watch, {rack.size} daemons: all shown", f"{all_shown:.2f} s"),
        Row("discover --watch: a daemon's removal after its SIGTERM, slowest of 10", f"{late:.2f} s",
            goal="≤ 1 s", met=late <= 1.0),
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
