"""A load client for the torture tests: pings a daemon and prints what it saw as JSON.

    python -m tests.helpers.load --port P [--pings N] [--per-connection M] [--timeout S]

Each connection is a fresh DEALER (a new peer to the daemon); every acknowledged count is
recorded. Bounded in count and in time (--max-seconds).
"""

from __future__ import annotations

import argparse
import json
import sys
import time


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
