"""Connection floods: idle connections beyond pingd's descriptor limit must not stop it."""

from __future__ import annotations

import contextlib
import os
import re
import resource
import shutil
import socket
import sys
import time
from collections.abc import Iterator

import pytest
import zmq

from pingctl.client import PingClient, Target
from tests.conftest import require
from tests.support.processes import Daemon, base_env, free_port, wait_for

LIMIT = 1024  # systemd's default soft limit, the one a flood of idle connections exhausted
#: The handshake-complete flood's limit: small, so that 2 × it of peers connect quickly.
PEER_LIMIT = 256
SOURCES = 200  # the flood's source addresses, 127.0.0.2 to 127.0.0.201


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

    from pingd.shared import protocol
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


@pytest.mark.parametrize("activation", ["bound", "passed"])
def test_handshake_complete_idle_peers_beyond_the_descriptor_limit_do_not_stop_service(
    activation, spawn_daemon, tmp_path
):
    """The attack held off: handshake-complete idle peers fill the descriptor limit.

    2 × the limit of ZeroMQ DEALER peers, from 200 source addresses, finish the handshake and
    never send a request. libzmq answers their heartbeats, so neither the handshake limit nor
    the heartbeat timeout ever drops them, and they reconnect at once when dropped. Once pingd
    is full, a real client must still be answered within 3 s; pingd says it is evicting idle
    peers, and how many it evicted. Run on a socket pingd binds, and on one passed by systemd
    (socket activation), where the flood is already waiting when pingd starts.
    """
    require(None if shutil.which("prlimit") else "needs prlimit (Debian: util-linux)")
    peers = 2 * PEER_LIMIT
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = peers + 256
    if soft < wanted:
        require(None if hard >= wanted else f"this test needs {wanted} descriptors; the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    limited = ("prlimit", f"--nofile={PEER_LIMIT}")  # pingd cannot raise a hard limit
    if activation == "bound":
        daemon = spawn_daemon(prefix=limited)
        port = daemon.port
    else:
        require(None if shutil.which("systemd-socket-activate") else "needs systemd-socket-activate (systemd)")
        port = free_port()
        activate = ["systemd-socket-activate", "-l", f"127.0.0.1:{port}", "-E", "PYTHONUNBUFFERED=1", "--"]
        pingd = [sys.executable, "-m", "pingd", "--no-mdns", "--state-file", str(tmp_path / "s.json")]
        daemon = Daemon(args=[], env=base_env(), command=[*limited, *activate, *pingd])
        daemon.start(wait_ready=False)
        daemon.wait_for_line("Listening on", 15)  # systemd-socket-activate's; pingd starts on a connection
    try:
        with _idle_peers(peers, port):
            assert daemon.proc is not None
            pid = daemon.proc.pid  # prlimit and systemd-socket-activate exec what they run
            wait_for(lambda: _open_descriptors(pid) >= PEER_LIMIT - 1, 20, "the flood to fill pingd's descriptors")
            full = time.monotonic()
            answered_after = None
            while time.monotonic() - full < 15:  # a real client, the Lazy Pirate way
                with PingClient(Target("127.0.0.1", port), 0.5) as client:
                    if client.ping().ok:
                        answered_after = time.monotonic() - full
                        break
            assert answered_after is not None and answered_after <= 3.0, (answered_after, daemon.output[-2000:])
            daemon.wait_for_line(f"file descriptors running short: \\d+ of {PEER_LIMIT} in use; evicting idle peers")
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        # The flood gone and descriptors plentiful again, pingd says how many it evicted.
        ended = daemon.wait_for_line("file descriptors no longer short .*: \\d+ idle peers evicted", 20)
        evicted = int(re.search(r": (\d+) idle peers evicted", ended).group(1))  # type: ignore[union-attr]
        print(f"{activation}: first pong {answered_after:.2f} s after {peers} idle peers filled pingd; {ended}")
        # How many depends on how long the flood lasted after the first pong; that pingd evicted
        # some and counted them is the point (0 would mean the line lies or nobody was evicted).
        assert evicted >= 1, ended
        with PingClient(Target("127.0.0.1", port), 2.0) as client:
            assert client.ping().ok
        assert daemon.proc.poll() is None
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        daemon.kill()


@contextlib.contextmanager
def _idle_peers(count: int, port: int) -> Iterator[None]:
    """``count`` DEALERs connected to 127.0.0.1:``port`` from 200 source addresses, saying
    nothing; held until the block ends. Returns once one has finished the ZeroMQ handshake."""
    context = zmq.Context()
    context.max_sockets = count + 64  # 1023 by default
    flood = [context.socket(zmq.DEALER) for _ in range(count)]
    probe = flood[0].get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
    try:
        for i, s in enumerate(flood):
            s.linger = 0
            s.connect(f"tcp://127.0.0.{2 + i % SOURCES}:0;127.0.0.1:{port}")  # from that source address
        assert probe.poll(20_000), "no peer of the flood finished the ZeroMQ handshake"
        yield
    finally:
        flood[0].disable_monitor()  # before its reader closes: libzmq blocks on a monitor with none
        probe.close(0)
        for s in flood:
            s.close(0)
        context.term()


def _open_descriptors(pid: int) -> int:
    """How many descriptors a process has open (Linux 6.2 and later: the size of its fd directory)."""
    try:
        return os.stat(f"/proc/{pid}/fd").st_size or len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0
