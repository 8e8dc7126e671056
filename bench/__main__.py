"""`make bench`: pingd against its transport floor, side by side, interleaved, repeated.

Every server and client is its own process on 127.0.0.1 (mDNS, where measured, is confined to
the loopback interface or to test hosts in network namespaces made and removed here). Every
load is bounded in count and time. Prints one markdown table and writes it to
bench/results/latest.md.

    python -m bench [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PY = sys.executable


def env() -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith(("PINGD_", "NOTIFY_", "WATCHDOG_", "LISTEN_"))}
    e["PYTHONPATH"] = str(ROOT)
    return e


def median(values: list[float]) -> float:
    return statistics.median(values)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


# --- servers -----------------------------------------------------------------------------------


@contextlib.contextmanager
def echo_server() -> Iterator[int]:
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        proc = subprocess.Popen([PY, "-m", "bench.echo", str(port_file)], cwd=ROOT, env=env())
        try:
            deadline = time.monotonic() + 20
            while not (port_file.exists() and port_file.read_text()):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("echo server did not start")
                time.sleep(0.01)
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
    from pingd import keys

    public, _ = keys.read_certificate(Path(d.state_dir) / "pingd-curve.key")
    return public


def persistence_rows() -> list[Row]:
    """What recording the count costs per ping, measured on the state file itself."""
    from pingd.store import StateStore

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
def pingd(*args: str, prefix: tuple[str, ...] = (), bind: str = "127.0.0.1") -> Iterator[RunningPingd]:
    """A pingd on a free port; the time from exec to READY=1 is measured on a notify socket."""
    with tempfile.TemporaryDirectory() as tmp:
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(os.path.join(tmp, "n"))
        notify.settimeout(20)
        port = _free_port()
        started = time.monotonic()
        proc = subprocess.Popen(
            [*prefix, PY, "-m", "pingd", "--bind", bind, "--port", str(port), "--log-level", "warning",
             "--state-file", os.path.join(tmp, "state.json"), *args],
            cwd=ROOT, env={**env(), "NOTIFY_SOCKET": os.path.join(tmp, "n")},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            while b"READY=1" not in notify.recv(4096):
                pass
            ready = time.monotonic() - started
            yield RunningPingd(proc, port, ready, tmp)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            notify.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- clients -----------------------------------------------------------------------------------


def pingctl_session(port: int, count: int, server_key: str | None = None, config_dir: str | None = None) -> dict:
    extra = ["--server-key", server_key] if server_key else []
    out = subprocess.run(
        [PY, "-m", "pingctl", "ping", "--server-ip", "127.0.0.1", "--port", str(port),
         "--interval", "0", "--count", str(count), "--json", *extra],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
        env={**env(), **({"PINGCTL_CONFIG_DIR": config_dir} if config_dir else {})},
    )
    if out.returncode != 0:
        raise RuntimeError(f"pingctl failed: {out.stderr}")
    return json.loads(out.stdout)


def workers(port: int, clients: int, seconds: float, max_pings: int | None = None) -> list[dict]:
    """``clients`` worker processes started together; their JSON reports."""
    cmd = [PY, "-m", "bench.worker", f"tcp://127.0.0.1:{port}", str(seconds)]
    if max_pings is not None:
        cmd.append(str(max_pings))
    procs = [
        subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env())
        for _ in range(clients)
    ]
    try:
        for p in procs:
            line = p.stdout.readline().strip()
            if line != "ready":
                raise RuntimeError(f"worker did not start: {line}")
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        reports = [json.loads(p.stdout.readline()) for p in procs]
    finally:
        for p in procs:
            p.kill()
            p.wait()
    return reports


def throughput(port: int, clients: int, seconds: float) -> tuple[float, float]:
    """Aggregate round trips per second, and the median of the clients' p50 RTTs (µs)."""
    reports = workers(port, clients, seconds)
    return sum(r["count"] for r in reports) / seconds, median([r["p50_us"] for r in reports])


def time_to_first_pong(*args: str, prefix: tuple[str, ...] = ()) -> float:
    started = time.monotonic()
    proc = subprocess.Popen(
        [*prefix, PY, "-m", "pingctl", "ping", "--count", "1", *args],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env(), cwd=ROOT,
    )
    try:
        for line in proc.stdout:
            if line.startswith("pong from"):
                return time.monotonic() - started
        raise RuntimeError("no pong")
    finally:
        proc.wait(30)


def wall(*cmd: str) -> float:
    started = time.monotonic()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env(), cwd=ROOT, check=True, timeout=60)
    return time.monotonic() - started


# --- the table ---------------------------------------------------------------------------------


@dataclass
class Row:
    figure: str
    value: str
    baseline: str = ""
    ratio: str = ""
    goal: str = ""
    met: bool | None = None


def ms(us: float) -> str:
    return f"{us / 1000:.3f} ms"


def ratio_row(figure: str, value: float, base: float, goal: float | None, unit=ms) -> Row:
    r = value / base
    return Row(figure, unit(value), unit(base), f"{r:.2f}×", f"≤ {goal:g}×" if goal else "", None if goal is None else r <= goal)


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

    # 1-3: single-client RTT. The three servers run side by side for the whole section (warmed
    # up first), and the client alternates between them in short rounds, so drifts of a shared,
    # noisy machine fall on all three alike; each figure is the median over the rounds.
    echo_p, periodic_p, always_p = [], [], []
    periodic_pct: list[dict] = []
    always_pct: list[dict] = []
    rounds = 3 if quick else 9
    per_round = count // 4
    with echo_server() as echo_port, pingd("--no-mdns", "--sync", "periodic") as per, \
            pingd("--no-mdns", "--sync", "always") as alw:
        workers(echo_port, 1, 0.5)
        pingctl_session(per.port, per_round)
        pingctl_session(alw.port, per_round // 4)
        for _ in range(rounds):
            echo_p.append(workers(echo_port, 1, per_round * 0.00015)[0]["p50_us"])
            rtt = pingctl_session(per.port, per_round)["rtt_ms"]
            periodic_pct.append(rtt)
            periodic_p.append(rtt["p50"] * 1000)
            rtt = pingctl_session(alw.port, per_round // 4)["rtt_ms"]
            always_pct.append(rtt)
            always_p.append(rtt["p50"] * 1000)
    base = median(echo_p)
    rows.append(Row("bare ZeroMQ echo p50 RTT (1 client)", ms(base)))
    rows.append(ratio_row("pingd periodic p50 RTT (pingctl, 1 client)", median(periodic_p), base, 1.15))
    rows.append(Row("pingd periodic p90 / p99 (pingctl)", f"{median([p['p90'] for p in periodic_pct]):.3f} / {median([p['p99'] for p in periodic_pct]):.3f} ms"))
    rows.append(ratio_row("pingd always p50 RTT (pingctl, 1 client)", median(always_p), base, None))
    rows.append(Row("pingd always p90 / p99 (pingctl)", f"{median([p['p90'] for p in always_pct]):.3f} / {median([p['p99'] for p in always_pct]):.3f} ms"))
    rows.extend(persistence_rows())

    # 3-4: concurrency: throughput and p50 RTT with 1, 4, 16, 64 clients, interleaved.
    for clients in (1, 4, 16) if quick else (1, 4, 16, 64):
        echo_t, echo_l, per_t, per_l, alw_l = [], [], [], [], []
        for _ in range(1 if quick else 2):
            with echo_server() as port:
                t, l = throughput(port, clients, seconds)
                echo_t.append(t)
                echo_l.append(l)
            with pingd("--no-mdns", "--sync", "periodic") as d:
                t, l = throughput(d.port, clients, seconds)
                per_t.append(t)
                per_l.append(l)
            if clients <= 16:
                with pingd("--no-mdns", "--sync", "always") as d:
                    alw_l.append(throughput(d.port, clients, seconds)[1])
        rows.append(
            ratio_row(f"throughput, {clients} client{'s' if clients > 1 else ''} (pingd periodic)", median(per_t), median(echo_t),
                      None, unit=lambda v: f"{v:,.0f} pings/s")
        )
        if clients == 16:
            r = median(per_t) / median(echo_t)
            rows[-1].ratio, rows[-1].goal, rows[-1].met = f"{r:.2f}×", "≥ 0.8×", r >= 0.8
        if alw_l:
            rows.append(
                ratio_row(f"pingd always p50 RTT, {clients} client{'s' if clients > 1 else ''} (group commit)", median(alw_l), median(echo_l),
                          1.5 if clients == 16 else None)
            )

    # 8 (issue 8): CURVE encryption's cost, interleaved with plain.
    plain_p, curve_p = [], []
    with pingd("--no-mdns") as plain, pingd("--no-mdns", "--curve") as cur, \
            tempfile.TemporaryDirectory() as client_dir:
        key = curve_key(cur)
        pingctl_session(plain.port, per_round // 2)
        pingctl_session(cur.port, per_round // 2, key, client_dir)
        for _ in range(rounds):
            plain_p.append(pingctl_session(plain.port, per_round // 2)["rtt_ms"]["p50"] * 1000)
            curve_p.append(pingctl_session(cur.port, per_round // 2, key, client_dir)["rtt_ms"]["p50"] * 1000)
    rows.append(ratio_row("pingd --curve p50 RTT (pingctl, 1 client)", median(curve_p), median(plain_p), None))
    rows[-1].baseline += " (plain)"

    # 5: discovery to first pong.
    lo = ("--mdns-interface", "127.0.0.1")
    with pingd(*lo, "--name", "bench-lo") as d:
        time_to_first_pong("--name", "bench-lo", *lo)  # waits out the ~1 s name probe: not measured
        times = [time_to_first_pong("--name", "bench-lo", *lo) for _ in range(5 if quick else 11)]
    value = median(times)
    rows.append(Row("discovery → first pong, loopback (median)", f"{value:.3f} s", "15-30 s (original)", "", "≤ 0.5 s", value <= 0.5))
    rows.append(_discovery_across_namespaces(5 if quick else 11))

    # 6: start-up.
    ready = []
    for _ in range(3 if quick else 7):
        with pingd("--no-mdns") as d:
            ready.append(d.ready_seconds)
    value = median(ready)
    rows.append(Row("pingd exec → READY=1 (median)", f"{value:.3f} s", "", "", "≤ 0.5 s", value <= 0.5))
    helps = [wall(PY, "-m", "pingctl", "--help") for _ in range(7)]
    value = median(helps)
    rows.append(Row("pingctl --help wall (median)", f"{value:.3f} s", "", "", "≤ 0.2 s", value <= 0.2))
    with pingd("--no-mdns") as d:
        once = [wall(PY, "-m", "pingctl", "ping", "--server-ip", "127.0.0.1", "--port", str(d.port), "--count", "1") for _ in range(7)]
    value = median(once)
    rows.append(Row("pingctl ping --server-ip … --count 1 wall (median)", f"{value:.3f} s", "", "", "≤ 0.35 s", value <= 0.35))

    # 7: memory.
    total = 100_000 if quick else 1_000_000
    with pingd("--no-mdns") as d:
        workers(d.port, 1, 5, 10)
        idle = rss_mb(d.proc.pid)
        per_worker = total // 8
        workers(d.port, 8, 600, per_worker)
        after = rss_mb(d.proc.pid)
    rows.append(Row("pingd RSS idle (--no-mdns)", f"{idle:.1f} MB", "", "", "≤ 40 MB", idle <= 40))
    with pingd("--mdns-interface", "127.0.0.1", "--name", "bench-rss") as d:
        time_to_first_pong("--name", "bench-rss", "--mdns-interface", "127.0.0.1")  # announced and serving
        with_mdns = rss_mb(d.proc.pid)
    rows.append(Row("pingd RSS idle, announcing over mDNS", f"{with_mdns:.1f} MB", "", "", "≤ 40 MB", with_mdns <= 40))
    rows.append(Row(f"pingd RSS growth after {total:,} pings", f"{after - idle:+.2f} MB", "", "", "≤ 5 MB", after - idle <= 5))
    return rows


def _discovery_across_namespaces(n: int) -> Row:
    figure = "discovery → first pong, two namespaces (median)"
    try:
        sys.path.insert(0, str(ROOT))
        from tests.hosts.netns import Network, available
    except ImportError:
        return Row(figure, "n/a (tests/hosts missing)")
    why = available()
    if why:
        return Row(figure, f"n/a ({why})")
    with Network() as net:
        server, client = net.add_host(), net.add_host()
        with pingd("--name", "bench-ns", "--mdns-interface", server.address, prefix=tuple(server.prefix), bind="*"):
            args = ("--name", "bench-ns", "--mdns-interface", client.address)
            time_to_first_pong(*args, prefix=tuple(client.prefix))  # the name probe, as above
            times = [
                time_to_first_pong(*args, prefix=tuple(client.prefix))
                for _ in range(n)
            ]
    value = median(times)
    return Row(figure, f"{value:.3f} s", "15-30 s (original)", "", "≤ 0.5 s", value <= 0.5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, for a smoke run")
    args = parser.parse_args()
    started = time.monotonic()
    rows = measure(args.quick)
    table = render(rows, machine())
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.md").write_text(table + "\n")
    print(table)
    print(f"\n(written to {RESULTS / 'latest.md'}; took {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
