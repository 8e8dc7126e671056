"""Load for the tests: pingctl's own client pinging a daemon, recording what it saw.

- ``Pinger``: flat-out pings from a thread, remembering the highest acknowledged count;
- ``load_process``/``collect``: load clients as processes of their own (true parallelism):

    python -m tests.support.load --port P [--pings N] [--per-connection M] [--timeout S]

  Each connection is a fresh DEALER (a new peer to the daemon); every acknowledged count is
  recorded and printed as JSON. Bounded in count and in time (--max-seconds).

The benchmark's baseline client (bench/worker.py) is deliberately not this one: it is the
minimal blocking loop that pingctl is measured against.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class Pinger:
    """Flat-out pings from a thread (at most a million), remembering the highest count."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 0.3) -> None:
        self.port, self.host, self.timeout = port, host, timeout
        self.highest = 0
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        from pingctl.client import PingClient, Target

        with PingClient(Target(self.host, self.port), self.timeout) as client:
            while not self._stop.is_set() and self.sent < 1_000_000:
                self.sent += 1
                result = client.ping()
                if result.ok and result.count is not None:
                    self.highest = max(self.highest, result.count)

    def __enter__(self) -> Pinger:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def load_process(port: int, *args: str) -> subprocess.Popen:
    """A load client in a process of its own; its JSON report comes on stdout."""
    from tests.support.processes import base_env

    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.load", "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=base_env(),
    )


def collect(procs: list[subprocess.Popen], timeout: float = 300) -> list[dict]:
    """Each load process's report (it must have exited 0)."""
    results = []
    for p in procs:
        out, err = p.communicate(timeout=timeout)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    return results


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pings", type=int, default=200)
    parser.add_argument("--per-connection", type=int, default=0, help="0: one connection for all")
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--max-seconds", type=float, default=120.0)
    parser.add_argument("--counts", action="store_true", help="print every acknowledged count")
    args = parser.parse_args()

    import zmq

    from pingctl.client import PingClient, Target

    context = zmq.Context()
    target = Target(args.host, args.port)
    counts: list[int] = []
    lost = errors = 0
    deadline = time.monotonic() + args.max_seconds
    client = PingClient(target, args.timeout, context)
    for i in range(args.pings):
        if time.monotonic() > deadline:
            break
        if args.per_connection and i and i % args.per_connection == 0:
            client.close()
            client = PingClient(target, args.timeout, context)
        result = client.ping()
        if result.ok:
            counts.append(result.count)
        elif result.error:
            errors += 1
        else:
            lost += 1
    client.close()
    context.term()
    out = {"sent": i + 1 if args.pings else 0, "received": len(counts), "lost": lost, "errors": errors}
    if args.counts:
        out["counts"] = counts
    else:
        out["max_count"] = max(counts, default=None)
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
