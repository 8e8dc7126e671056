"""The baseline: a bare pyzmq ROUTER echo server, the transport with no work at all.

    python -m bench.echo PORT_FILE

Binds 127.0.0.1 on a free port, writes the port to PORT_FILE, echoes every message until
SIGTERM.
"""

from __future__ import annotations

import sys

import zmq


def main() -> None:
    context = zmq.Context()
    sock = context.socket(zmq.ROUTER)
    sock.linger = 0
    sock.rcvhwm = sock.sndhwm = 10_000
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    with open(sys.argv[1], "w") as f:
        f.write(str(port))
    # SIGTERM keeps its default action (end the process): a Python handler would only run once
    # a blocking recv returned, and the loop stays free of timeouts and polls.
    recv, send = sock.recv_multipart, sock.send_multipart
    while True:
        send(recv())


if __name__ == "__main__":
    main()
