"""A load client for the benchmark, run as its own process.

    python -m bench.worker ENDPOINT SECONDS [MAX_PINGS]

Connects a DEALER, prints "ready", waits for a line on stdin (the start signal, so that all
workers begin together), then sends pings in lock-step for SECONDS and prints one JSON line:
the number of round trips and their RTTs' p50 in microseconds. Works against pingd and the
echo server alike (it waits for any one reply per request).

It is the minimal blocking client, the benchmark's baseline: between its two clock readings
a send and a blocking receive (bounded by the socket's RCVTIMEO), nothing else — no poll,
no decoding.
"""

from __future__ import annotations

import json
import sys
import time

import zmq

from pingd.shared import protocol


def main() -> None:
    endpoint, seconds = sys.argv[1], float(sys.argv[2])
    max_pings = int(sys.argv[3]) if len(sys.argv) > 3 else 10**12
    context = zmq.Context()
    sock = context.socket(zmq.DEALER)
    sock.linger = 0
    sock.rcvtimeo = 5000
    sock.connect(endpoint)
    # One warm-up round trip so connection set-up is not measured.
    sock.send(protocol.encode_ping(0))
    if not sock.poll(10_000):
        print(json.dumps({"error": "no reply"}), flush=True)
        return
    sock.recv()
    print("ready", flush=True)
    sys.stdin.readline()
    rtts: list[int] = []
    seq = 1
    now = time.perf_counter_ns
    end = now() + int(seconds * 1e9)
    send, recv, encode, noblock = sock.send, sock.recv, protocol.encode_ping, int(zmq.NOBLOCK)
    while now() < end and seq <= max_pings:
        frame = encode(seq)
        t0 = now()
        send(frame, noblock)
        try:
            recv()
        except zmq.Again:
            break
        rtts.append(now() - t0)
        seq += 1
    rtts.sort()

    def pct(q: float) -> float | None:
        return rtts[min(len(rtts) - 1, int(q * len(rtts)))] / 1000 if rtts else None

    print(json.dumps({"count": len(rtts), "p50_us": pct(0.5), "p90_us": pct(0.9), "p99_us": pct(0.99)}), flush=True)
    sock.close(0)
    context.term()


if __name__ == "__main__":
    main()
