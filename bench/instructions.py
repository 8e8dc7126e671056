"""`make bench`'s instruction counts for pingd's metrics: what a ping costs pingd with metrics on
and scraped, against metrics off, and what one scrape costs.

Timing ratios on these shared 2-core machines swing by ±10 % between runs; a 2 % bound needs
a measure that does not. valgrind's callgrind counts every thread's user-space instructions,
the same for the same program and inputs whatever else runs (docs/performance.md, "Method").
pingd runs under it, pinged by the C client (bench/cclient.c) N₁ and then N₂ times in two
runs; the per-ping cost is (I(N₂) − I(N₁)) / (N₂ − N₁), which cancels start-up and shutdown.
With metrics on, each run is scraped the same number of times (once before the pings, once
after), so the scrapes cancel too and what is left is the ping's own path with metrics on; a
third run with ``SCRAPES`` more scrapes gives a scrape's cost the same way.

Each count is the smaller of two runs: pingd's housekeeping on a timer (the descriptor count,
backing off to every 2 s) adds instructions to a run that lasts longer under valgrind, and
never takes any away; one such run put the per-ping figure 14 % over the other three.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path

from bench.table import Row
from tests.support.processes import Daemon, base_env, free_port

N1, N2 = 500, 2500
#: Scrapes more in the run that measures what one costs.
SCRAPES = 20
_SUMMARY = re.compile(rb"^(?:summary|totals): (\d+)", re.M)


def instructions(
    c_client: Path, pings: int, scrapes: int | None, extra: tuple[str, ...] = (), prefix: tuple[str, ...] = ()
) -> int:
    """The smaller of two ``run``s."""
    return min(run(c_client, pings, scrapes, extra, prefix) for _ in range(2))


def run(
    c_client: Path, pings: int, scrapes: int | None, extra: tuple[str, ...] = (), prefix: tuple[str, ...] = ()
) -> int:
    """Instructions pingd executed (every thread) from exec to exit, pinged ``pings`` times;
    with ``scrapes``, metrics on and scraped once before the pings and ``scrapes`` - 1 times after.
    ``extra``: more flags for pingd (the last of a pair wins: ``--mdns`` undoes ``--no-mdns``);
    ``prefix``: where pingd and the client run (``ip netns exec NS``)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        metrics = free_port()
        args = ["--bind", "127.0.0.1", "--port", "0", "--no-mdns", "--log-level", "info",
                "--state-file", os.path.join(tmp, "state.json")]  # fmt: skip
        if scrapes is not None:
            args += ["--metrics", f"127.0.0.1:{metrics}"]
        args += extra
        command = [
            *prefix,
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            "-m",
            "pingd",
            *args,
        ]
        # The same hash seed each run: set and dict layouts, and so the instructions, repeat.
        daemon = Daemon(args=args, env=base_env(PYTHONHASHSEED="0"), command=command)
        try:
            daemon.start(timeout=300)
            scrape: Callable[[], None] = lambda: scrape_once(metrics, timeout=120)  # noqa: E731
            if scrapes is not None:
                daemon.wait_for_line("metrics on http://", 60)
                scrape()
            client = [*prefix, str(c_client), f"tcp://127.0.0.1:{daemon.port}", str(pings)]
            subprocess.run(client, check=True, timeout=600, capture_output=True)
            for _ in range((scrapes or 1) - 1):
                scrape()
            assert daemon.stop(timeout=300) == 0, daemon.output
        finally:
            daemon.kill()
        found = _SUMMARY.search(out.read_bytes())
        assert found is not None, f"no totals in {out}"
        return int(found.group(1))


def scrape_once(port: int, timeout: float = 5.0) -> None:
    """GET pingd's /metrics on 127.0.0.1:``port``, as Prometheus would."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as page:
        assert b"pingd_pings_served_total" in page.read()


def metrics_rows(c_client: Path | str) -> list[Row]:
    """Per-ping instructions with metrics on and scraped ÷ off (goal ≤ 1.02), and per scrape."""
    figure = "pingd instructions per ping, metrics on and scraped ÷ metrics off (callgrind)"
    if not isinstance(c_client, Path):
        return [Row(figure, f"n/a ({c_client})")]
    if subprocess.run(["valgrind", "--version"], capture_output=True).returncode != 0:
        return [Row(figure, "n/a (no valgrind; Debian: apt-get install valgrind)")]
    off = (instructions(c_client, N2, None) - instructions(c_client, N1, None)) / (N2 - N1)
    on_n1 = instructions(c_client, N1, 2)
    on = (instructions(c_client, N2, 2) - on_n1) / (N2 - N1)
    per_scrape = (instructions(c_client, N1, 2 + SCRAPES) - on_n1) / SCRAPES
    return [
        Row(figure, f"{on / 1000:.1f} k", f"{off / 1000:.1f} k (metrics off)", f"{on / off:.3f}×", "≤ 1.02×",
            on / off <= 1.02),
        Row("pingd instructions per scrape of /metrics (callgrind)", f"{per_scrape / 1e6:.2f} M",
            f"{on / 1000:.1f} k per ping", f"{per_scrape / on:,.0f} pings' worth"),
    ]  # fmt: skip
