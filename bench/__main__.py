"""`make bench`: pingd against its transport floor, side by side, interleaved, repeated.

Every server and client is its own process on 127.0.0.1 (mDNS, where measured, is confined to
the loopback interface or to test hosts in network namespaces made and removed here). Every
load is bounded in count and time. Prints one markdown table and writes it to
bench/results/latest.md and into docs/performance.md, between its bench markers: the document
shows the latest full run and nothing else. A --quick run is a smoke test; its table goes to
bench/results/quick.md only.

    python -m bench [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# The test kit starts, waits on and measures processes for the benchmark as for the tests (one
# kit, no copies); python -m bench runs from the repository root, where `tests` is importable.
from bench import instructions, mesh, prober, scale
from bench.table import Row, ms, ratio_row
from tests.support.processes import base_env, free_port, pingctl, pingd_until_ready, rss_kib, wait_for

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
#: The document that shows the latest full run, between these two markers.
DOCUMENT = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
PY = sys.executable


def env() -> dict[str, str]:
    """The tests' environment for pingd and pingctl (no settings of the caller's own), from here.
    No search domains: pingctl asks this machine's resolver for no browse domains (the
    benchmark talks to loopback and its own test hosts only). See client_env."""
    return base_env(PYTHONPATH=str(ROOT), LOCALDOMAIN="")


def client_env(prefix: tuple[str, ...]) -> dict[str, str]:
    """pingctl's environment on a test host: one with a resolver of its own (the DNS world's
    client) keeps its search domain, as a user there would have it."""
    e = env()
    if prefix[:3] == ("ip", "netns", "exec") and Path("/etc/netns", prefix[3], "resolv.conf").exists():
        e.pop("LOCALDOMAIN")
    return e


def median(values: list[float]) -> float:
    return statistics.median(values)


def rss_mb(pid: int) -> float:
    return rss_kib(pid) / 1024


# --- servers -----------------------------------------------------------------------------------


@contextlib.contextmanager
def echo_server() -> Iterator[int]:
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        proc = subprocess.Popen([PY, "-m", "bench.echo", str(port_file)], cwd=ROOT, env=env())
        try:
            wait_for(lambda: proc.poll() is not None or (port_file.exists() and port_file.read_text()), 20, "echo")
            if proc.poll() is not None:
                raise RuntimeError(f"echo server exited {proc.returncode}")
            yield int(port_file.read_text())
        finally:
            proc.terminate()
            proc.wait(10)


@dataclass
class RunningPingd:
    proc: subprocess.Popen
    port: int
    ready_seconds: float
    state_dir: str


def curve_key(d: RunningPingd) -> str:
    from pingd.shared import keys

    public, _ = keys.read_certificate(Path(d.state_dir) / "pingd-curve.key")
    assert public is not None, "pingd wrote no public key"
    return public


def persistence_rows() -> list[Row]:
    """What recording the count costs per ping, measured on the state file itself."""
    from pingd.serve.store import StateStore

    with tempfile.TemporaryDirectory(dir=os.environ.get("PINGD_BENCH_DIR")) as tmp:
        store = StateStore.open(Path(tmp) / "state.json")
        try:
            n = 20_000
            t0 = time.perf_counter_ns()
            for i in range(n):
                store.record(i)
            pwrite_us = (time.perf_counter_ns() - t0) / n / 1000
            m = 500
            t0 = time.perf_counter_ns()
            for i in range(m):
                store.record(n + i)
                store.sync()
            sync_us = (time.perf_counter_ns() - t0) / m / 1000
        finally:
            store.close()
    return [
        Row("persisting a count, periodic (pwrite)", f"{pwrite_us:.2f} µs per ping"),
        Row("persisting a count, always (pwrite + fdatasync)", f"{sync_us:.0f} µs per batch"),
    ]


@contextlib.contextmanager
def pingd(
    *args: str,
    prefix: tuple[str, ...] = (),
    bind: str = "127.0.0.1",
    log: bool = False,
    environ: dict[str, str] | None = None,
) -> Iterator[RunningPingd]:
    """A pingd on a free port; the time from exec to READY=1 is measured on a notify socket.
    With ``log``, its output goes to ``log`` in its state directory."""
    with tempfile.TemporaryDirectory() as tmp, open(os.path.join(tmp, "log"), "w") as log_file:
        port = free_port()
        args = ("--bind", bind, "--port", str(port), "--log-level", "warning",
                "--state-file", os.path.join(tmp, "state.json"), *args)  # fmt: skip
        out = log_file if log else subprocess.DEVNULL
        with pingd_until_ready(args, env=environ or env(), prefix=prefix, stderr=out) as d:
            yield RunningPingd(d.proc, port, d.ready_seconds, tmp)


# --- clients -----------------------------------------------------------------------------------


def pingctl_session(port: int, count: int, server_key: str | None = None, config_dir: str | None = None) -> dict:
    extra = ["--server-key", server_key] if server_key else []
    config = {"PINGCTL_CONFIG_DIR": config_dir} if config_dir else {}
    return _pingctl_json(
        "ping", "--server-ip", "127.0.0.1", "--port", str(port), "--interval", "0", "--count", str(count), "--json",
        *extra, environ={**env(), **config},
    )  # fmt: skip


def workers(port: int, clients: int, seconds: float, max_pings: int | None = None) -> list[dict]:
    """``clients`` worker processes started together; their JSON reports."""
    cmd = [PY, "-m", "bench.worker", f"tcp://127.0.0.1:{port}", str(seconds)]
    if max_pings is not None:
        cmd.append(str(max_pings))
    procs = [
        subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env())
        for _ in range(clients)
    ]
    pipes = [(p.stdin, p.stdout) for p in procs if p.stdin is not None and p.stdout is not None]
    try:
        for _, out in pipes:
            line = out.readline().strip()
            if line != "ready":
                raise RuntimeError(f"worker did not start: {line}")
        for into, _ in pipes:
            into.write("go\n")
            into.flush()
        reports = [json.loads(out.readline()) for _, out in pipes]
    finally:
        for p in procs:
            p.kill()
            p.wait()
    return reports


def placement() -> tuple[set[int], set[int]]:
    """Servers on one core, clients on another, the same for every client-server pair.

    Left to the scheduler on two cores, a client's and a server's four threads (each process
    has libzmq's I/O thread) land differently from one round to the next, and a round's p50
    jumps between ~0.20 and ~0.36 ms on this machine whatever the software; pinned, every
    pair meets the same placement and the ratios compare the software, not the placement.
    """
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return set(cpus), set(cpus)
    return {cpus[-1]}, {cpus[0]}


@contextlib.contextmanager
def on_cpus(cpus: set[int]) -> Iterator[None]:
    """Run this process (and the processes it starts meanwhile) on ``cpus``."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


@contextlib.contextmanager
def scraping(port: int, every: float) -> Iterator[list[int]]:
    """GET pingd's /metrics every ``every`` seconds on a thread, as Prometheus would, until the
    end of the block; yields [scrapes so far]."""
    import threading

    done, scrapes = threading.Event(), [0]

    def scrape() -> None:
        while not done.wait(every):
            instructions.scrape_once(port)
            scrapes[0] += 1

    thread = threading.Thread(target=scrape, daemon=True)
    thread.start()
    try:
        yield scrapes
    finally:
        done.set()
        thread.join(10)


def minimal_p50(port: int, pings: int) -> float:
    """The minimal blocking client's p50 RTT (µs) over ``pings`` round trips."""
    return workers(port, 1, 600, pings)[0]["p50_us"]


def build_c_client() -> Path | str:
    """bench/cclient.c compiled against libzmq, or why it cannot be."""
    import shutil

    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return "no C compiler"
    RESULTS.mkdir(exist_ok=True)
    binary = RESULTS / "cclient"
    built = subprocess.run(
        [cc, "-O2", "-o", str(binary), str(ROOT / "bench" / "cclient.c"), "-lzmq"], capture_output=True, text=True
    )
    if built.returncode != 0:
        return "libzmq headers missing (Debian: libzmq3-dev)"
    return binary


def c_p50(binary: Path, port: int, pings: int) -> float:
    out = subprocess.run(
        [str(binary), f"tcp://127.0.0.1:{port}", str(pings)], capture_output=True, text=True, timeout=600, check=True
    )
    return json.loads(out.stdout)["p50_us"]


def throughput(port: int, clients: int, seconds: float) -> tuple[float, float]:
    """Aggregate round trips per second, and the median of the clients' p50 RTTs (µs)."""
    reports = workers(port, clients, seconds)
    return sum(r["count"] for r in reports) / seconds, median([r["p50_us"] for r in reports])


def time_to_first_pong(*args: str, prefix: tuple[str, ...] = ()) -> float:
    started = time.monotonic()
    proc = subprocess.Popen(
        [*prefix, PY, "-m", "pingctl", "ping", "--count", "1", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=client_env(prefix),
        cwd=ROOT,
    )
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            if line.startswith("pong from"):
                return time.monotonic() - started
        raise RuntimeError("no pong")
    finally:
        proc.wait(30)


def wall(*args: str) -> float:
    """The wall time of one ``pingctl ARGS`` run, process start included."""
    run = pingctl(*args, env=env())
    if run.code != 0:
        raise RuntimeError(f"pingctl {' '.join(args)} exited {run.code}: {run.stderr}")
    return run.seconds


# --- the table ---------------------------------------------------------------------------------


def render(rows: list[Row], machine: str) -> str:
    lines = [
        f"Machine: {machine}",
        "",
        "| figure | value | baseline | ratio | goal | met |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        met = "" if r.met is None else ("yes" if r.met else "**no**")
        lines.append(f"| {r.figure} | {r.value} | {r.baseline} | {r.ratio} | {r.goal} | {met} |")
    return "\n".join(lines)


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    import zmq

    return (
        f"{os.cpu_count()} × {model}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, pyzmq {zmq.__version__} (libzmq {zmq.zmq_version()}); "
        f"{time.strftime('%Y-%m-%d')}"
    )


# --- the measurements --------------------------------------------------------------------------


def measure(quick: bool) -> list[Row]:
    count = 2000 if quick else 20000
    seconds = 0.5 if quick else 2.0
    rows: list[Row] = []

    # Single-client round trips: pingd's p50 RTT against the echo server's. The servers run side
    # by side for the whole section (warmed up first) and each round runs every client against
    # them in turn, so drifts of a shared, noisy machine fall on all alike; each figure is the
    # median of the rounds' p50s, and each ratio a ratio of those medians. The baseline client is
    # the minimal blocking one (bench/worker.py: send, blocking receive, nothing else); the C
    # client (bench/cclient.c) is the same loop in C, the server's cost with no Python client in
    # the way.
    rounds = 3 if quick else 15
    per_round = count // 10
    c_client = build_c_client()
    echo_min: list[float] = []
    pingd_min: list[float] = []
    scraped_min: list[float] = []
    pingd_ctl: list[float] = []
    echo_c: list[float] = []
    pingd_c: list[float] = []
    always_p: list[float] = []
    periodic_pct: list[dict] = []
    always_pct: list[dict] = []
    server_cpus, client_cpus = placement()
    with contextlib.ExitStack() as servers:
        with on_cpus(server_cpus):  # children inherit the placement
            echo_port = servers.enter_context(echo_server())
            per = servers.enter_context(pingd("--no-mdns", "--sync", "periodic"))
            alw = servers.enter_context(pingd("--no-mdns", "--sync", "always"))
            metrics = free_port()
            met = servers.enter_context(pingd("--no-mdns", "--sync", "periodic", "--metrics", f"127.0.0.1:{metrics}"))
        servers.enter_context(on_cpus(client_cpus))
        servers.enter_context(scraping(metrics, 1.0))  # as Prometheus would, every second
        workers(echo_port, 1, 600, per_round // 4)
        workers(per.port, 1, 600, per_round // 4)
        workers(met.port, 1, 600, per_round // 4)
        pingctl_session(per.port, per_round // 4)
        pingctl_session(alw.port, per_round // 16)

        def pingctl_on(port: int, pings: int, p50s: list[float], percentiles: list[dict]) -> None:
            rtt = pingctl_session(port, pings)["rtt_ms"]
            percentiles.append(rtt)
            p50s.append(rtt["p50"] * 1000)

        runs = [
            lambda: echo_min.append(minimal_p50(echo_port, per_round)),
            lambda: pingd_min.append(minimal_p50(per.port, per_round)),
            lambda: scraped_min.append(minimal_p50(met.port, per_round)),
            lambda: pingctl_on(per.port, per_round, pingd_ctl, periodic_pct),
            lambda: pingctl_on(alw.port, per_round // 4, always_p, always_pct),
        ]
        if isinstance(c_client, Path):
            runs += [
                lambda: echo_c.append(c_p50(c_client, echo_port, per_round)),
                lambda: pingd_c.append(c_p50(c_client, per.port, per_round)),
            ]
        for i in range(rounds):  # each round starts with another client: no client always goes first
            for run in runs[i % len(runs) :] + runs[: i % len(runs)]:
                run()
    base = median(echo_min)
    rows.append(Row("minimal pyzmq client → bare ZeroMQ echo, p50 RTT (the baseline)", ms(base)))
    rows.append(ratio_row("minimal pyzmq client → pingd, p50 RTT (pingd's own cost)", median(pingd_min), base, 1.08))
    on, off = median(scraped_min) / base, median(pingd_min) / base
    rows.append(  # timing swings ±10 % here: the instruction counts below hold the 2 % goal
        Row("pingd's own cost (minimal client, p50 ÷ echo), metrics on and scraped every second ÷ off",
            f"{on:.3f}×", f"{off:.3f}× (metrics off)", f"{on / off:.3f}×")
    )  # fmt: skip
    rows.extend(instructions.metrics_rows(c_client))
    rows.extend(mesh.own_cost_rows(c_client))
    rows.append(
        ratio_row(
            "pingctl → pingd, p50 RTT ÷ minimal client → pingd (pingctl's own cost)",
            median(pingd_ctl),
            median(pingd_min),
            1.05,
        )
    )
    rows[-1].baseline += " (minimal → pingd)"
    rows.append(ratio_row("pingctl → pingd, p50 RTT ÷ the baseline (end to end)", median(pingd_ctl), base, 1.15))
    if echo_c:
        rows.append(
            ratio_row("C libzmq client → pingd ÷ C client → bare echo, p50 RTT", median(pingd_c), median(echo_c), 1.10)
        )
        rows[-1].baseline += " (C → echo)"
    else:
        rows.append(Row("C libzmq client → pingd ÷ C client → bare echo, p50 RTT", f"n/a ({c_client})"))
    rows.append(
        Row(
            "pingd periodic p90 / p99 (pingctl)",
            f"{median([p['p90'] for p in periodic_pct]):.3f} / {median([p['p99'] for p in periodic_pct]):.3f} ms",
        )
    )
    rows.append(ratio_row("pingd --sync always p50 RTT (pingctl, 1 client)", median(always_p), base, None))
    rows.append(
        Row(
            "pingd always p90 / p99 (pingctl)",
            f"{median([p['p90'] for p in always_pct]):.3f} / {median([p['p99'] for p in always_pct]):.3f} ms",
        )
    )
    rows.extend(persistence_rows())

    # Concurrency: throughput and p50 RTT with 1, 4, 16, 64 clients, interleaved.
    for clients in (1, 4, 16) if quick else (1, 4, 16, 64):
        echo_t, echo_l, per_t, per_l, alw_l = [], [], [], [], []
        for _ in range(1 if quick else 3):
            with echo_server() as port:
                t, line = throughput(port, clients, seconds)
                echo_t.append(t)
                echo_l.append(line)
            with pingd("--no-mdns", "--sync", "periodic") as d:
                t, line = throughput(d.port, clients, seconds)
                per_t.append(t)
                per_l.append(line)
            if clients <= 16:
                with pingd("--no-mdns", "--sync", "always") as d:
                    alw_l.append(throughput(d.port, clients, seconds)[1])
        rows.append(
            ratio_row(
                f"throughput, {clients} client{'s' if clients > 1 else ''} (pingd periodic)",
                median(per_t),
                median(echo_t),
                None,
                unit=lambda v: f"{v:,.0f} pings/s",
            )
        )
        if clients == 16:
            r = median(per_t) / median(echo_t)
            rows[-1].ratio, rows[-1].goal, rows[-1].met = f"{r:.2f}×", "≥ 0.8×", r >= 0.8
        if alw_l:
            rows.append(
                ratio_row(
                    f"pingd always p50 RTT, {clients} client{'s' if clients > 1 else ''} (group commit)",
                    median(alw_l),
                    median(echo_l),
                    1.5 if clients == 16 else None,
                )
            )

    # CURVE encryption's cost: pingctl's p50 RTT against a --curve pingd, interleaved with a plain one.
    plain_p, curve_p = [], []
    with pingd("--no-mdns") as plain, pingd("--no-mdns", "--curve") as cur, tempfile.TemporaryDirectory() as client_dir:
        key = curve_key(cur)
        pingctl_session(plain.port, per_round // 2)
        pingctl_session(cur.port, per_round // 2, key, client_dir)
        for _ in range(rounds):
            plain_p.append(pingctl_session(plain.port, per_round // 2)["rtt_ms"]["p50"] * 1000)
            curve_p.append(pingctl_session(cur.port, per_round // 2, key, client_dir)["rtt_ms"]["p50"] * 1000)
    rows.append(ratio_row("pingd --curve p50 RTT (pingctl, 1 client)", median(curve_p), median(plain_p), None))
    rows[-1].baseline += " (plain)"

    # Discovery to the first pong, in the places a user meets it.
    rows.extend(discovery_rows(5 if quick else 11))
    rows.extend(ready_rows(3 if quick else 9))

    # Every daemon at once: twenty sessions (ping --all) must not distort each other's round trips.
    rows.extend(fleet_rows(quick))

    # At scale: a rack of daemons on one link, an idle daemon's wake-ups, stopping (bench/scale.py).
    rows.extend(scale.scale_rows(quick))

    # pingctl monitor: twenty daemons probed every second, its CPU and its round trips (bench/prober.py).
    rows.extend(prober.monitor_rows(quick, placement(), on_cpus, env()))

    # The mesh: a fleet meshing at the default interval, its cost and its traffic (bench/mesh.py).
    rows.extend(mesh.mesh_rows(quick))

    # Start-up: pingd to READY=1, pingctl --help, a one-ping session by address.
    ready = []
    for _ in range(3 if quick else 7):
        with pingd("--no-mdns") as d:
            ready.append(d.ready_seconds)
    value = median(ready)
    rows.append(Row("pingd exec → READY=1 (median)", f"{value:.3f} s", "", "", "≤ 0.5 s", value <= 0.5))
    helps = [wall("--help") for _ in range(7)]
    value = median(helps)
    rows.append(Row("pingctl --help wall (median)", f"{value:.3f} s", "", "", "≤ 0.2 s", value <= 0.2))
    with pingd("--no-mdns") as d:
        once = [wall("ping", "--server-ip", "127.0.0.1", "--port", str(d.port), "--count", "1") for _ in range(7)]
    value = median(once)
    rows.append(
        Row("pingctl ping --server-ip … --count 1 wall (median)", f"{value:.3f} s", "", "", "≤ 0.35 s", value <= 0.35)
    )

    # Memory: pingd's resident size idle, and its growth over a million pings.
    total = 100_000 if quick else 1_000_000
    with pingd("--no-mdns") as d:
        workers(d.port, 1, 5, 10)
        idle = rss_mb(d.proc.pid)
        per_worker = total // 8
        workers(d.port, 8, 600, per_worker)
        after = rss_mb(d.proc.pid)
    rows.append(Row("pingd RSS idle (--no-mdns)", f"{idle:.1f} MB", "", "", "≤ 40 MB", idle <= 40))
    metrics = free_port()
    with pingd("--no-mdns", "--metrics", f"127.0.0.1:{metrics}") as d, scraping(metrics, 0.2) as scrapes:
        workers(d.port, 1, 5, 10)
        wait_for(lambda: scrapes[0] >= 3, 10, "three scrapes")
        scraped = rss_mb(d.proc.pid)
    rows.append(Row("pingd RSS idle, metrics on and scraped", f"{scraped:.1f} MB", "", "", "≤ 40 MB", scraped <= 40))
    with pingd("--mdns-interface", "127.0.0.1", "--name", "bench-rss") as d:
        time_to_first_pong("--name", "bench-rss", "--mdns-interface", "127.0.0.1")  # announced and serving
        with_mdns = rss_mb(d.proc.pid)
    rows.append(Row("pingd RSS idle, announcing over mDNS", f"{with_mdns:.1f} MB", "", "", "≤ 40 MB", with_mdns <= 40))
    rows.append(
        Row(f"pingd RSS growth after {total:,} pings", f"{after - idle:+.2f} MB", "", "", "≤ 5 MB", after - idle <= 5)
    )
    return rows


#: Steady state: the daemon announced this long before the first timed run...
SETTLE = 3.0
#: ...and runs this far apart (a responder multicasts a record at most once a second).
SPACING = 1.2


def discovery_rows(n: int) -> list[Row]:
    """Wall time from starting `pingctl ping --count 1` (no address) to its first pong line,
    process start included, in steady state, on: the daemon's own host with default flags;
    loopback with --mdns-interface 127.0.0.1 on both sides; two hosts; two hosts that both
    run Debian's avahi-daemon; and through DNS, from another subnet (BIND on a third, the
    subnets routed, no multicast between them), with --domain and with no flag (the resolver's
    search domain names the browse domain). Each row: the median and p90 of ``n`` runs."""
    rows = [_discovery_row("discovery → first pong, loopback (--mdns-interface 127.0.0.1)", n, _loopback)]
    from tests.support import avahi, dnsworld, netns  # python -m bench runs from the repository root

    why = netns.available()
    for figure, topology, needs in (
        ("discovery → first pong, the daemon's own host, default flags", _own_host, None),
        ("discovery → first pong, two hosts", _two_hosts, None),
        ("discovery → first pong, two hosts running avahi-daemon", _two_hosts_with_avahi, avahi.available),
        ("discovery → first pong, two hosts running avahi-daemon, pingd publishing through it",
         functools.partial(_through_avahi, False), avahi.available),
        ("discovery → first pong, the daemon's own host running avahi-daemon, pingd publishing through it",
         functools.partial(_through_avahi, True), avahi.available),
        ("discovery → first pong through DNS, another subnet, --domain", _dns_domain, dnsworld.available),
        ("discovery → first pong through DNS, another subnet, default flags (browse domain)", _dns_browse_domain,
         dnsworld.available),
    ):  # fmt: skip
        missing = why or (needs() if needs else None)
        rows.append(Row(figure, f"n/a ({missing})") if missing else _discovery_row(figure, n, topology))
    return rows


def _discovery_row(figure: str, n: int, topology) -> Row:
    times = []
    with topology() as (pingd_process, client_prefix, client_args):
        time.sleep(SETTLE)
        for _ in range(n):
            time.sleep(SPACING)
            times.append(time_to_first_pong(*client_args, prefix=client_prefix))
        if pingd_process.poll() is not None:
            raise RuntimeError("pingd died during the discovery runs")
    times.sort()
    p50, p90 = median(times), times[min(len(times) - 1, int(0.9 * len(times)))]
    return Row(
        figure,
        f"{p50:.3f} s (p90 {p90:.3f} s)",
        "15-30 s (original)",
        "",
        "≤ 0.3 s (p90 ≤ 0.5 s)",
        p50 <= 0.3 and p90 <= 0.5,
    )


@contextlib.contextmanager
def _announced(
    *args: str,
    prefix: tuple[str, ...] = (),
    bind: str = "127.0.0.1",
    name: str = "bench-disc",
    environ: dict[str, str] | None = None,
):
    """A pingd named ``name``, once its mDNS name is announced (past the ~1 s probe)."""
    with pingd("--name", name, "--log-level", "info", *args, prefix=prefix, bind=bind, log=True, environ=environ) as d:
        log = Path(d.state_dir, "log")
        wait_for(lambda: d.proc.poll() is not None or "announced as" in log.read_text(), 30, "pingd's mDNS name")
        if d.proc.poll() is not None:
            raise RuntimeError(f"pingd exited {d.proc.returncode} before it was announced")
        yield d


#: ping --all's figure: this many daemons, pinged this often.
FLEET, FLEET_INTERVAL = 20, 0.1


def fleet_rows(quick: bool) -> list[Row]:
    """`pingctl ping --all` against 20 daemons on loopback at --interval 0.1, and, in the
    same rounds, `pingctl ping --name` against one of them (another each round) with the same
    flags: same client, same daemons, same schedule, found the same way. The daemons share
    one core and pingctl has the other, as in the RTT section. Each daemon's figure is the
    median over the rounds of its session's p50; the ratio that must hold is the worst
    daemon's against the single session's median p50."""
    count, rounds = (20, 2) if quick else (50, 5)
    lo = ("--mdns-interface", "127.0.0.1")
    names = [f"bench-fleet-{i:02d}" for i in range(1, FLEET + 1)]
    flags = ("--count", str(count), "--interval", str(FLEET_INTERVAL), "--json", *lo)
    single: list[float] = []
    per_daemon: dict[str, list[float]] = {n: [] for n in names}
    server_cpus, client_cpus = placement()
    with contextlib.ExitStack() as stack:
        with on_cpus(server_cpus):
            for name in names:
                stack.enter_context(_announced(*lo, name=name))
        stack.enter_context(on_cpus(client_cpus))
        time.sleep(SETTLE)
        for i in range(rounds):
            one = _pingctl_json("ping", "--name", names[i % FLEET], *flags)
            single.append(one["rtt_ms"]["p50"])
            for report in _pingctl_json("ping", "--all", *flags):
                if report.get("server", {}).get("name") in per_daemon and report["rtt_ms"]:
                    per_daemon[report["server"]["name"]].append(report["rtt_ms"]["p50"])
    if any(len(v) != rounds for v in per_daemon.values()):
        raise RuntimeError("ping --all missed a daemon in some round")
    base = median(single) * 1000
    each = sorted(median(v) * 1000 for v in per_daemon.values())
    what = f"{FLEET} daemons at --interval {FLEET_INTERVAL:g}, p50 RTT"
    return [
        ratio_row(f"pingctl ping --all, {what}, median daemon ÷ one session (ping --name)", median(each), base, None),
        ratio_row(f"pingctl ping --all, {what}, worst daemon ÷ one session (ping --name)", each[-1], base, 1.2),
    ]


def _pingctl_json(*args: str, environ: dict[str, str] | None = None):
    run = pingctl(*args, env=environ or env(), timeout=600)
    if run.code != 0:
        raise RuntimeError(f"pingctl {' '.join(args)} failed: {run.stderr}")
    return run.json()


@contextlib.contextmanager
def _loopback():
    lo = ("--mdns-interface", "127.0.0.1")
    with _announced(*lo) as d:
        yield d.proc, (), ("--name", "bench-disc", *lo)  # the name: this host may run other pingds


@contextlib.contextmanager
def _own_host():
    from tests.support.netns import Network

    with Network() as net:
        host = net.add_host()
        with _announced(prefix=tuple(host.prefix), bind="*") as d:
            yield d.proc, tuple(host.prefix), ()


@contextlib.contextmanager
def _two_hosts():
    from tests.support.netns import Network

    with Network() as net:
        server, client = net.add_host(), net.add_host()
        with _announced(prefix=tuple(server.prefix), bind="*") as d:
            yield d.proc, tuple(client.prefix), ()


@contextlib.contextmanager
def _two_hosts_with_avahi():
    from tests.support.avahi import Avahi
    from tests.support.netns import Network

    with Network() as net, tempfile.TemporaryDirectory() as tmp:
        server, client = net.add_host(), net.add_host()
        with (
            Avahi(server, "bench-avahi-s", Path(tmp)),
            Avahi(client, "bench-avahi-c", Path(tmp)),
            _announced(prefix=tuple(server.prefix), bind="*") as d,
        ):
            yield d.proc, tuple(client.prefix), ()


@contextlib.contextmanager
def _avahi_on_two_hosts():
    """Two hosts on one link, each running Debian's avahi-daemon with a bus of its own."""
    from tests.support.avahi import Avahi
    from tests.support.netns import Network

    with Network() as net, tempfile.TemporaryDirectory() as tmp:
        server, client = net.add_host(), net.add_host()
        with Avahi(server, "bench-avahi-s", Path(tmp)) as on_server, Avahi(client, "bench-avahi-c", Path(tmp)):
            yield on_server, client


def _through(avahi) -> dict[str, str]:
    """pingd's environment beside ``avahi``: its bus, so that pingd publishes through it."""
    return avahi.env(PYTHONPATH=str(ROOT), LOCALDOMAIN="")


@contextlib.contextmanager
def _through_avahi(client_beside_pingd: bool):
    """pingd publishing through the server host's avahi-daemon; pingctl on the other host, or
    on the daemon's own (``client_beside_pingd``)."""
    with (
        _avahi_on_two_hosts() as (on_server, client),
        _announced(prefix=tuple(on_server.prefix), bind="*", environ=_through(on_server)) as d,
    ):
        yield d.proc, tuple(on_server.prefix if client_beside_pingd else client.prefix), ()


def ready_rows(n: int) -> list[Row]:
    """A pingd started while avahi-daemon runs on both hosts: from its READY=1 to the first
    pong of a `pingctl ping --count 1 --name NAME` started at that moment on the other host,
    publishing through Avahi and, for comparison, with pingd's own responder. A new daemon
    (state, node id, name) each run; the median and p90 of ``n`` runs. Then each one's RSS,
    announced and answered (the median over the runs)."""
    from tests.support import avahi, netns

    rows, memory = [], []
    for backend in ("avahi", "zeroconf"):
        figure = f"pingd started beside avahi-daemon → first pong (READY=1 to pong, two hosts), {backend}"
        missing = netns.available() or avahi.available()
        if missing:
            rows.append(Row(figure, f"n/a ({missing})"))
            continue
        times, sizes = [], []
        with _avahi_on_two_hosts() as (on_server, client):
            for i in range(n):
                name = f"bench-ready-{backend}-{i}"
                args = ("--name", name, "--mdns-backend", backend)
                with pingd(*args, prefix=tuple(on_server.prefix), bind="*", environ=_through(on_server)) as d:
                    times.append(time_to_first_pong("--name", name, prefix=tuple(client.prefix)))
                    sizes.append(rss_mb(d.proc.pid))
                time.sleep(SPACING)
        times.sort()
        p50, p90 = median(times), times[min(len(times) - 1, int(0.9 * len(times)))]
        rows.append(Row(figure, f"{p50:.3f} s (p90 {p90:.3f} s)"))
        who = "through avahi-daemon" if backend == "avahi" else "with its own responder, beside avahi-daemon"
        memory.append(Row(f"pingd RSS idle, announcing {who}", f"{median(sizes):.1f} MB", "", "", "≤ 40 MB",
                          median(sizes) <= 40))  # fmt: skip
    return rows + memory


@contextlib.contextmanager
def _registered_in_dns():
    """pingd on S registered in example.test (BIND on D); pingctl runs on C."""
    from tests.support.dnsworld import DNS_ADDRESS, ZONE, DnsWorld

    with DnsWorld() as world:
        args = ("--dns-domain", ZONE, "--dns-server", DNS_ADDRESS, "--dns-key", str(world.key_file))
        with _announced(*args, prefix=tuple(world.server.prefix), bind="*") as d:
            log = Path(d.state_dir, "log")
            wait_for(lambda: d.proc.poll() is not None or "DNS: registered" in log.read_text(), 30, "DNS registration")
            if d.proc.poll() is not None:
                raise RuntimeError(f"pingd exited {d.proc.returncode} before it was registered in DNS")
            yield d.proc, tuple(world.client.prefix), ZONE


@contextlib.contextmanager
def _dns_domain():
    with _registered_in_dns() as (proc, prefix, zone):
        yield proc, prefix, ("--domain", zone)


@contextlib.contextmanager
def _dns_browse_domain():
    with _registered_in_dns() as (proc, prefix, _):
        yield proc, prefix, ()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, for a smoke run")
    args = parser.parse_args()
    if not args.quick:
        publish(DOCUMENT.read_text(encoding="utf-8"), "")  # its markers, before minutes of measuring
    started = time.monotonic()
    # An installed pingd has its bytecode compiled (pip and dpkg do it at install time); a
    # source checkout run with PYTHONDONTWRITEBYTECODE would recompile every module at every
    # start and time the compiler, not pingctl.
    import compileall

    for package in ("pingd", "pingctl"):
        compileall.compile_dir(ROOT / package, quiet=1)
    rows = measure(args.quick)
    table = render(rows, machine())
    RESULTS.mkdir(exist_ok=True)
    written = [RESULTS / ("quick.md" if args.quick else "latest.md")]
    written[0].write_text(table + "\n")
    if not args.quick:
        DOCUMENT.write_text(publish(DOCUMENT.read_text(encoding="utf-8"), table), encoding="utf-8")
        written.append(DOCUMENT)
    print(table)
    print(f"\n(written to {', '.join(map(str, written))}; took {time.monotonic() - started:.0f} s)")
    return 0


def publish(document: str, table: str) -> str:
    """``document`` with ``table`` in place of whatever stood between its bench markers."""
    head, begin, rest = document.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"no {BEGIN} ... {END} in {DOCUMENT}")
    return f"{head}{BEGIN}\n{table}\n{END}{tail}"


if __name__ == "__main__":
    sys.exit(main())
