"""`make bench`'s rows for the mesh (pingd --mesh): what a fleet meshing at the default interval
costs each daemon, what it sends, and what it does to the price of an ordinary ping.

- **A fleet of ``FLEET``** on one link (a rack: the loopback of a namespace of its own, every
  daemon announced over mDNS on 127.0.0.1), each with ``--mesh`` and the default interval
  (10 s) and cap (64 peers a round): after ``SETTLE`` seconds (three rounds, so every daemon has
  found its peers and probes in its steady state), each daemon's CPU from /proc/PID/stat over
  ``WINDOW`` seconds (goal under 2 % of a core), its resident memory (goal under 45 MB), and the
  bytes the link carried meanwhile (the namespace's loopback counters: probes, replies, TCP's
  acknowledgements and the mesh's mDNS questions), with the probes the fleet answered
  (``probes_served`` in each daemon's STATUS, before and after).
- **An ordinary client's cost with the mesh running**: pingd's instructions per ping under
  callgrind (bench/instructions.py's method: the C client, two runs of N₁ and N₂ pings) with
  ``--mesh`` ÷ without, both announced over mDNS beside four meshing peers on one link.
  Unchanged within 2 % is the goal: the ratio of pingd's own cost (on pingd ÷ on the echo)
  with and without the mesh is this ratio, the echo's count being the same in both.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import instructions
from bench.prober import _cpu_ticks
from bench.table import Row
from tests.support.processes import base_env, rss_kib
from tests.support.rack import Rack

FLEET = 100
SETTLE = 35.0
WINDOW = 60.0
LO = ("--mdns-interface", "127.0.0.1")


def mesh_rows(quick: bool) -> list[Row]:
    """A fleet of ``FLEET`` (20 with ``quick``) meshing: CPU, memory and traffic per daemon."""
    size = 20 if quick else FLEET
    window = 20.0 if quick else WINDOW
    what = f"{size} daemons meshing on one link (default interval 10 s, cap 64)"
    with Rack(size, prefix="mesh", extra=("--mesh",)) as rack:
        time.sleep(SETTLE)  # a bench's steady state: three rounds after the last announcement
        pids = [m.proc.pid for m in rack.members]
        served, link = _probes_served(rack), _link_bytes(rack)
        ticks = {pid: _cpu_ticks(pid) for pid in pids}
        started = time.monotonic()
        time.sleep(window)
        seconds = time.monotonic() - started
        cpu = sorted((_cpu_ticks(pid) - ticks[pid]) / os.sysconf("SC_CLK_TCK") / seconds * 100 for pid in pids)
        rss = sorted(rss_kib(pid) / 1024 for pid in pids)
        after = _probes_served(rack)
        counted = served.keys() & after.keys()  # a daemon status --all missed once is left out
        probes = sum(after[n] - served[n] for n in counted) / seconds * size / max(1, len(counted))
        sent = (_link_bytes(rack) - link) / seconds
    expected = size * min(size - 1, 64) / 10.0
    return [
        Row(f"{what}: CPU per daemon, worst (median)", f"{cpu[-1]:.2f} % ({statistics.median(cpu):.2f} %)",
            goal="< 2 % of a core", met=cpu[-1] < 2.0),
        Row(f"{what}: resident memory per daemon, worst (median)",
            f"{rss[-1]:.1f} MB ({statistics.median(rss):.1f} MB)", goal="< 45 MB", met=rss[-1] < 45),
        Row(f"{what}: probes answered by the fleet a second (from {len(counted)} daemons' STATUS, scaled)",
            f"{probes:,.0f}/s",
            f"{expected:,.0f}/s (N × min(N−1, 64) ÷ 10 s)"),
        Row(f"{what}: bytes on the link a second (probes, replies, ACKs, mDNS)", f"{sent / 1000:,.1f} kB/s",
            f"{sent / max(probes, 1):,.0f} B a probe"),
    ]  # fmt: skip


def _probes_served(rack: Rack) -> dict[str, int]:
    """Each daemon's ``probes_served``, by name (pingctl status --all, on the rack's link)."""
    run = subprocess.run(
        [*rack.run_prefix, sys.executable, "-m", "pingctl", "status", "--all", "--json", *LO],
        capture_output=True, text=True, timeout=120, env=base_env(),
    )  # fmt: skip
    return {d["name"]: d["probes_served"] for d in json.loads(run.stdout or "[]") if "probes_served" in d}


def _link_bytes(rack: Rack) -> int:
    """Bytes the rack's loopback has carried (each packet counted once, as it is sent)."""
    run = subprocess.run([*rack.run_prefix, "cat", "/sys/class/net/lo/statistics/tx_bytes"], capture_output=True,
                         text=True, timeout=30, check=True)  # fmt: skip
    return int(run.stdout)


def own_cost_rows(c_client: Path | str) -> list[Row]:
    """pingd's instructions per ping with --mesh ÷ without, beside four meshing peers."""
    figure = "pingd instructions per ping, --mesh beside 4 meshing peers ÷ no mesh (callgrind)"
    if not isinstance(c_client, Path):
        return [Row(figure, f"n/a ({c_client})")]
    if subprocess.run(["valgrind", "--version"], capture_output=True).returncode != 0:
        return [Row(figure, "n/a (no valgrind; Debian: apt-get install valgrind)")]
    n1, n2 = instructions.N1, instructions.N2
    with Rack(4, prefix="peer", extra=("--mesh",)) as peers:
        prefix = tuple(peers.run_prefix)

        def per_ping(*extra: str) -> float:
            args = ("--mdns", *LO, *extra)
            low = instructions.instructions(c_client, n1, None, args, prefix)
            return (instructions.instructions(c_client, n2, None, args, prefix) - low) / (n2 - n1)

        off, on = per_ping(), per_ping("--mesh")
    return [
        Row(figure, f"{on / 1000:.1f} k", f"{off / 1000:.1f} k (no mesh)", f"{on / off:.3f}×", "≤ 1.02×",
            on / off <= 1.02),
    ]  # fmt: skip
