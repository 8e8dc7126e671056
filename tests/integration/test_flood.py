"""Connection floods: idle connections beyond pingd's descriptor limit must not stop it."""

from __future__ import annotations

import resource
import shutil
import socket
import time

from pingctl.client import PingClient, Target
from tests.conftest import require

LIMIT = 1024  # systemd's default soft limit, the one a flood of idle connections exhausted


def test_idle_connections_beyond_the_descriptor_limit_do_not_stop_service(spawn_daemon):
    require(None if shutil.which("prlimit") else "needs prlimit (Debian: util-linux)")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2 * LIMIT + 256
    if soft < wanted:
        require(None if hard >= wanted else f"this test needs {wanted} descriptors; the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    # pingd cannot raise its soft limit above a hard limit of 1024.
    daemon = spawn_daemon(prefix=("prlimit", f"--nofile={LIMIT}"))
    flood: list[socket.socket] = []
    try:
        started = time.monotonic()
        for _ in range(2 * LIMIT):  # held open, never a word: no ZeroMQ handshake
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", daemon.port))
            flood.append(s)
        answered_after = None
        while time.monotonic() - started < 15:  # a real client, the Lazy Pirate way
            with PingClient(Target("127.0.0.1", daemon.port), 0.5) as client:
                if client.ping().ok:
                    answered_after = time.monotonic() - started
                    break
        print(f"first pong {answered_after} s after a flood of {2 * LIMIT} idle connections")
        assert answered_after is not None and answered_after <= 3.0
        daemon.wait_for_line("file descriptors running short: \\d+ of 1024 in use")
    finally:
        for s in flood:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    with PingClient(Target("127.0.0.1", daemon.port), 2.0) as client:
        assert client.status().pings_served >= 1
    assert daemon.proc.poll() is None


def test_memory_goes_back_after_a_crowd_of_peers_leaves(spawn_daemon):
    import zmq

    from pingd import protocol
    from tests.support.processes import rss_kib, wait_for

    peers = 2000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 3 * peers + 256:
        require(None if hard >= 3 * peers + 256 else f"this test needs {3 * peers + 256} descriptors")
        resource.setrlimit(resource.RLIMIT_NOFILE, (3 * peers + 256, hard))
    daemon = spawn_daemon()
    idle = rss_kib(daemon.proc.pid)
    contexts = [zmq.Context() for _ in range(peers // 1000 + 1)]  # libzmq: 1023 sockets a context
    sockets = []
    try:
        for i in range(peers):
            s = contexts[i // 1000].socket(zmq.DEALER)
            s.linger = 0
            s.connect(f"tcp://127.0.0.1:{daemon.port}")
            s.send(protocol.encode_ping(1))
            sockets.append(s)
        for s in sockets:
            assert s.poll(20_000)
            s.recv()
        crowded = rss_kib(daemon.proc.pid)
    finally:
        for s in sockets:
            s.close(0)
        for c in contexts:
            c.term()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert crowded > idle + 30 * 1024, (idle, crowded)  # the crowd did cost memory
    # pingd looks every 10 s and gives back what the peers' buffers held.
    wait_for(lambda: rss_kib(daemon.proc.pid) < idle + 12 * 1024, 30, "memory to go back", interval=0.5)
