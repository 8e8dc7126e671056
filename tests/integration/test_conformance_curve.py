"""CURVE as the protocol specification (docs/protocol.md, "CURVE") says a client meets it, against
a live daemon serving --curve: where its public key is found, that a throwaway client key pair
is served, what a refused client observes, the 2,015-byte request limit, and the allow-list's
refusal. The rest of the specification is test_conformance.py's."""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import zmq

from pingd.shared import keys, protocol
from pingd.shared.protocol import ErrorReply, Pong
from pingd.shared.service import SERVICE_TYPE
from tests.support import asking
from tests.support.processes import Daemon, wait_for
from tests.support.zmtp import RawPeer


@dataclass(frozen=True)
class Curve:
    daemon: Daemon
    port: int
    key: str  # the daemon's public key, from its key file
    name: str


@pytest.fixture(scope="module")
def curve(tmp_path_factory):
    directory = tmp_path_factory.mktemp("curve")
    name = "conformance-" + secrets.token_hex(4)
    daemon = asking.start(directory, "--curve", "--mdns", "--mdns-interface", "127.0.0.1", "--name", name)
    public, _ = keys.read_certificate(directory / "pingd-curve.key")
    assert public is not None and daemon.port is not None
    yield Curve(daemon, daemon.port, public, name)
    daemon.kill()


@contextlib.contextmanager
def _curve_dealer(
    port: int, server_key: str | None, pair: tuple[bytes, bytes] | None = None, connect: bool = True
) -> Iterator[zmq.Socket]:
    """A DEALER speaking CURVE to ``server_key`` with ``pair`` or a throwaway key pair (plain
    when ``server_key`` is None), connected to ``port`` unless told not to."""
    context = zmq.Context()
    sock = context.socket(zmq.DEALER)
    sock.linger = 0
    if server_key is not None:
        sock.curve_publickey, sock.curve_secretkey = pair or zmq.curve_keypair()
        sock.curve_serverkey = server_key.encode()
    if connect:
        sock.connect(f"tcp://127.0.0.1:{port}")
    try:
        yield sock
    finally:
        sock.close(0)
        context.term()


def _handshake_failure(port: int, server_key: str | None, pair: tuple[bytes, bytes] | None = None) -> tuple[int, int]:
    """The event (and value) the handshake of a new socket failed with, watched from before it
    connects (libzmq gives up after some failures, and would not report them again)."""
    failed = zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    failed |= zmq.EVENT_HANDSHAKE_FAILED_AUTH
    with _curve_dealer(port, server_key, pair, connect=False) as sock:
        event, value = asking.event_after(
            sock, failed | zmq.EVENT_HANDSHAKE_SUCCEEDED, protocol.encode_ping(1), connect=port
        )
        assert event & failed, f"the handshake succeeded (event {event:#x})"
        assert not sock.poll(500), "a refused client was answered"
    return event, value


def test_curve_the_key_is_in_the_key_file_the_log_the_txt_record_and_status(curve):
    from zeroconf import Zeroconf

    assert any(f"public key {curve.key}" in line for line in curve.daemon.lines)
    zc = Zeroconf(interfaces=["127.0.0.1"])
    try:
        info = zc.get_service_info(SERVICE_TYPE, f"{curve.name}.{SERVICE_TYPE}", timeout=10_000)
    finally:
        zc.close()
    assert info is not None and info.properties[b"ck"] == curve.key.encode()
    with _curve_dealer(curve.port, curve.key) as sock:  # a throwaway key pair is served
        assert isinstance(asking.ask(sock, protocol.encode_ping(1)), Pong)
        status = asking.status(sock, 2)
        assert (status.curve_public_key, status.security) == (curve.key, "curve")
        announced = f"mDNS: announced as '{curve.name}'"
        wait_for(lambda: asking.status(sock, 3).announced == announced, 15, "STATUS to say the daemon is announced")


def test_curve_a_plain_client_or_a_wrong_server_key_fails_the_handshake_and_is_never_answered(curve):
    with _curve_dealer(curve.port, curve.key) as sock:
        before = asking.status(sock, 1).count
    _handshake_failure(curve.port, None)
    wrong = zmq.curve_keypair()[0].decode()
    assert _handshake_failure(curve.port, wrong)[0] == zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    for version in (3, 2):  # a NULL greeting, and ZMTP 2.0, which has no CURVE: closed in the handshake
        with pytest.raises(ConnectionError), RawPeer(curve.port, version=version):
            pass
    with _curve_dealer(curve.port, curve.key) as sock:
        assert asking.status(sock, 2).count == before


def test_curve_requests_up_to_2015_bytes_get_error_1_and_longer_ones_drop_the_connection(curve):
    body = lambda size: b"PD\x01\x01" + (5).to_bytes(8, "big") + bytes(size - 12)  # noqa: E731
    with _curve_dealer(curve.port, curve.key) as sock:
        reply = asking.ask(sock, body(2015))
        assert isinstance(reply, ErrorReply) and (reply.code, reply.seq) == (1, 5)
        asking.event_after(sock, zmq.EVENT_DISCONNECTED, body(2016))
        assert asking.status(sock, 6).count >= 0  # served again, after the reconnect


def test_curve_allow_list_refuses_an_unlisted_key_in_the_handshake(tmp_path):
    listed, stranger = zmq.curve_keypair(), zmq.curve_keypair()
    (tmp_path / "clients").mkdir()
    (tmp_path / "clients" / "listed.key").write_bytes(listed[0])
    daemon = asking.start(tmp_path, "--curve", "--allow-clients", str(tmp_path / "clients"))
    public, _ = keys.read_certificate(tmp_path / "pingd-curve.key")
    assert public is not None
    try:
        assert _handshake_failure(daemon.port, public, stranger) == (zmq.EVENT_HANDSHAKE_FAILED_AUTH, 400)
        daemon.wait_for_line(re.escape(f"refused a client whose key is not on the allow-list: {stranger[0].decode()}"))
        with _curve_dealer(daemon.port, public, listed) as sock:
            reply = asking.ask(sock, protocol.encode_ping(2))
            assert isinstance(reply, Pong) and reply.count == 1  # the refused PING was never counted
    finally:
        daemon.kill()
