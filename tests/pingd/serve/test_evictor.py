"""Evicting idle peers from a real ROUTER: its connections learned from the monitor, requests
noted by descriptor, and a connection dropped only while it is still the peer chosen."""

from __future__ import annotations

import os
import socket

import pytest
import zmq

from pingd.serve import evictor as evictor_mod
from pingd.serve.evictor import IdleEvictor
from pingd.serve.peers import NEW_IDLE, QUIET_IDLE
from tests.support.processes import wait_for

LATER = 1000.0  # a "now" long after every accept: anyone idle is idle by then


@pytest.fixture
def router():
    """A ROUTER on 127.0.0.1 with an IdleEvictor; DEALERs made by ``dealer(source)``."""
    context = zmq.Context()
    sock = context.socket(zmq.ROUTER)
    sock.linger = 0
    sock.rcvtimeo = 5000
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    evictor = IdleEvictor(sock, port)
    dealers: list[zmq.Socket] = []

    def dealer(source: str = "127.0.0.2") -> zmq.Socket:
        d = context.socket(zmq.DEALER)
        d.linger = 0
        d.rcvtimeo = 5000
        d.connect(f"tcp://{source}:0;127.0.0.1:{port}")
        dealers.append(d)
        return d

    yield sock, evictor, dealer
    for d in dealers:
        d.close(0)
    evictor.close()
    sock.close(0)
    context.term()


def _learn(evictor: IdleEvictor, count: int, now: float = 0.0) -> None:
    """Read the monitor until the table holds ``count`` connections."""
    wait_for(lambda: evictor.round(now, False, 0) == 0 and len(evictor.table) == count, 5, f"{count} connections")


def test_the_table_follows_connections_as_they_come_and_go(router):
    sock, evictor, dealer = router
    peers = [dealer(f"127.0.0.{n}") for n in (2, 3, 4)]
    _learn(evictor, 3)
    known = [peer for _, peer in evictor.table.items()]
    assert sorted(peer.address[0] for peer in known) == ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
    assert all(0 <= peer.allowance < 0.1 for peer in known)  # loopback round trips
    peers[0].close(0)
    _learn(evictor, 2)


def test_receive_notes_the_descriptor_and_returns_what_recv_multipart_would(router):
    sock, evictor, dealer = router
    client = dealer()
    _learn(evictor, 1)
    [(fd, _)] = evictor.table.items()
    client.send(b"ping")
    peer, body = evictor.receive()
    assert body == b"ping" and isinstance(peer, bytes)
    assert evictor._heard == {fd}
    waker = sock.context.socket(zmq.DEALER)  # an inproc peer, as the daemon's waker: no descriptor
    try:
        sock.bind("inproc://waker-test")
        waker.connect("inproc://waker-test")
        waker.send(b"")
        assert evictor.receive()[1] == b""
    finally:
        waker.close(0)


def test_an_idle_peer_is_evicted_and_its_dealer_comes_back(router):
    sock, evictor, dealer = router
    idle = dealer("127.0.0.2")
    active = dealer("127.0.0.3")
    _learn(evictor, 2)
    evictor.round(0.0, True, 0)  # short: noting begins
    active.send(b"ping")
    assert evictor.receive()[1] == b"ping"
    now = QUIET_IDLE - 0.1  # the idle one is past NEW_IDLE, the active one within QUIET_IDLE
    assert now > NEW_IDLE
    assert evictor.round(now, True, 5) == 1
    assert [peer.address[0] for _, peer in evictor.table.items()] == ["127.0.0.3"]
    # libzmq closes the dropped connection itself; the DEALER reconnects and is served again.
    wait_for(lambda: evictor.round(now, True, 0) == 0 and len(evictor.table) == 2, 5, "the DEALER to reconnect")
    idle.send(b"back")
    assert evictor.receive()[1] == b"back"


def test_a_descriptor_that_changed_hands_is_not_shut_down(router):
    sock, evictor, dealer = router
    client = dealer()
    _learn(evictor, 1)
    [(fd, peer)] = evictor.table.items()
    peer.address = ("127.0.0.9", 1)  # as if the connection had gone and another had its number
    assert evictor.round(LATER, True, 5) == 0
    client.send(b"still here")
    assert evictor.receive()[1] == b"still here"


def test_the_kernel_dates_a_peers_last_sign_of_life(router):
    sock, evictor, dealer = router
    dealer()
    _learn(evictor, 1)
    [(fd, peer)] = evictor.table.items()
    silence = evictor._silence(fd, peer)
    assert silence is not None and 0 <= silence < 5
    peer.address = ("127.0.0.9", 1)
    assert evictor._silence(fd, peer) is None  # not the peer recorded: nothing read


def test_a_closed_evictor_no_longer_holds_up_the_router_or_its_context(router):
    sock, evictor, dealer = router
    evictor.close()
    evictor.close = lambda: None  # the fixture's close, already done
    # libzmq sends monitor events blocking: were the monitor still on with its reader gone,
    # these connections would stop the I/O thread, and the request would never arrive.
    for n in range(2, 12):
        dealer(f"127.0.0.{n}")
    client = dealer()
    client.send(b"ping")
    assert sock.recv_multipart()[1] == b"ping"


def test_borrowing_never_closes_the_descriptor():
    a, b = socket.socketpair()
    r, w = os.pipe()
    try:
        assert evictor_mod._borrowing(a.fileno(), lambda s: s.fileno()) == a.fileno()
        a.send(b"x")  # still open
        assert b.recv(1) == b"x"
        assert evictor_mod._borrowing(r, lambda s: 1) is None  # not a socket
        os.fstat(r)  # and still open
    finally:
        for f in (a, b):
            f.close()
        os.close(r)
        os.close(w)
