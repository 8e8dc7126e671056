"""The Lazy Pirate client against a scripted ROUTER on loopback: what is timed, what is
counted, and what happens to replies that come too late."""

from __future__ import annotations

import math

import pytest
import zmq

from pingctl.client import PingClient, Target
from pingctl.limits import MAX_TIMEOUT
from pingd.shared import protocol
from tests.support import wire
from tests.support.fakes import ScriptedRouter


@pytest.fixture
def server():
    made = []

    def make(*script):
        s = ScriptedRouter(list(script))
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def _client(port: int, timeout: float = 0.3) -> PingClient:
    return PingClient(Target("127.0.0.1", port), timeout, context=zmq.Context.instance())


def test_a_pong_is_timed_and_counted(server):
    s = server(lambda seq: [wire.pong(seq, 41)])
    with _client(s.port) as client:
        result = client.ping()
    assert result.ok and result.count == 41 and 0 < result.rtt_ms < 300
    assert not client.in_flight


def test_a_reply_to_an_earlier_request_is_skipped_not_counted(server):
    s = server(lambda seq: [wire.pong(seq - 1, 1), wire.pong(seq, 2)])
    with _client(s.port) as client:
        result = client.ping()
    assert result.ok and result.count == 2


def test_no_reply_is_a_loss_then_a_fresh_socket_and_the_late_reply_is_never_counted(server):
    s = server(None, lambda seq: [wire.pong(seq - 1, 1), wire.pong(seq, 2)])
    with _client(s.port, timeout=0.2) as client:
        lost = client.ping()
        assert not lost.ok and lost.rtt_ms is None and client._socket is None and not client.in_flight
        result = client.ping()
        assert result.ok and result.count == 2 and result.seq == lost.seq + 1


def test_only_the_stale_reply_comes_then_the_timeout(server):
    s = server(lambda seq: [wire.pong(seq + 7, 1)])
    with _client(s.port, timeout=0.2) as client:
        result = client.ping()
        assert not result.ok and client._socket is None  # reset: a fresh socket next time


@pytest.mark.parametrize("timeout", [0, -1, math.nan, math.inf, 1e300, MAX_TIMEOUT * 2])
def test_timeouts_that_cannot_be_kept_are_refused(timeout):
    with pytest.raises(ValueError, match="timeout"):
        PingClient(Target("127.0.0.1", 1), timeout)


# --- a first contact fails fast, typed -----------------------------------------------------------


def test_a_refused_port_is_unreachable_at_once():
    import socket as sockets

    from pingctl.errors import Unreachable

    with sockets.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens: bound, never listening
        with _client(port, timeout=5.0) as client, pytest.raises(Unreachable) as info:
            client.status()
    assert "refused" in info.value.reason and info.value.where == f"127.0.0.1:{port}"


def test_something_that_is_not_pingd_is_not_pingd(server):
    from pingctl.errors import NotPingd

    s = server(lambda seq: [b"HTTP/1.1 400 Bad Request"])
    with _client(s.port) as client, pytest.raises(NotPingd):
        client.status()


def test_silence_is_no_answer_after_the_timeout(server):
    from pingctl.errors import NoAnswer

    s = server(None)
    with _client(s.port, timeout=0.3) as client, pytest.raises(NoAnswer) as info:
        client.status()
    assert info.value.connected and info.value.timeout == 0.3


def test_a_daemon_of_another_version_is_wrong_version(server):
    from pingctl.errors import WrongVersion

    s = server(lambda seq: [b"PD\x02\xff" + seq.to_bytes(8, "big") + b"\x00\x02v2"])
    with _client(s.port) as client, pytest.raises(WrongVersion) as info:
        client.status()
    assert info.value.version == 2


def test_an_error_reply_to_status_is_refused(server):
    from pingctl.errors import Refused

    s = server(lambda seq: [protocol.encode_error(seq, protocol.ErrorCode.NOT_A_REQUEST, "no")])
    with _client(s.port) as client, pytest.raises(Refused) as info:
        client.status()
    assert "not a request" in info.value.text


@pytest.mark.parametrize("host", ["a..b", "a" * 64, ".a"])
def test_a_malformed_host_name_is_unresolvable_not_a_traceback(host):
    """The IDNA codec refuses an empty label or one over 63 characters with a UnicodeError."""
    from pingctl.connection import Unresolvable, resolve_target

    with pytest.raises(Unresolvable) as info:
        resolve_target(host, 7464)
    assert "not a valid host name" in info.value.reason and str(info.value) == host


# --- PEERS: the peer table, checked ----------------------------------------------------------------

_NO_MESH = {"mesh": False, "interval_seconds": None, "window_seconds": None, "peers_known": 0, "peers": []}
_ONE_PEER = {
    "mesh": True,
    "interval_seconds": 10.0,
    "window_seconds": 30.0,
    "peers_known": 1,
    "peers": [
        {
            "name": "other",
            "node_id": None,
            "address": "::1",
            "port": 7464,
            "probes": 2,
            "lost": 0,
            "recent_probes": 2,
            "recent_lost": 0,
            "p50_seconds": 0.0002,
            "p90_seconds": 0.0002,
            "last_error": None,
            "last_probe_seconds_ago": 0.5,
        }
    ],
}


@pytest.mark.parametrize("table", [_NO_MESH, _ONE_PEER], ids=["no-mesh", "one-peer"])
def test_peers_returns_the_daemons_table(server, table):
    asked = []

    def answer(seq):
        asked.append(seq)
        return [protocol.encode_peers_reply(seq, table)]

    s = server(answer)
    with _client(s.port) as client:
        assert client.peers() == table
    assert asked == [client.last_seq]  # one request, answered once


def test_peers_skips_a_reply_to_an_earlier_request(server):
    s = server(
        lambda seq: [protocol.encode_peers_reply(seq - 1, _ONE_PEER), protocol.encode_peers_reply(seq, _NO_MESH)]
    )
    with _client(s.port) as client:
        assert client.peers() == _NO_MESH


def test_a_pingd_that_answers_peers_with_error_3_is_too_old(server):
    from pingctl.errors import TooOld, explain

    s = server(lambda seq: [protocol.encode_error(seq, protocol.ErrorCode.NOT_A_REQUEST, "unknown request type 0x07")])
    with _client(s.port) as client, pytest.raises(TooOld) as info:
        client.peers()
    assert info.value.request == "PEERS" and info.value.where == f"127.0.0.1:{s.port}"
    assert explain(info.value) == (
        f"the pingd at 127.0.0.1:{s.port} is older than PEERS requests; upgrade it to see them"
    )


def test_another_error_to_peers_is_refused_not_too_old(server):
    from pingctl.errors import Refused

    s = server(lambda seq: [protocol.encode_error(seq, protocol.ErrorCode.MALFORMED, "a request is exactly one frame")])
    with _client(s.port) as client, pytest.raises(Refused) as info:
        client.peers()
    assert info.value.text == "malformed: a request is exactly one frame"


@pytest.mark.parametrize(
    "table",
    [
        {},
        _NO_MESH | {"peers": [_ONE_PEER["peers"][0]]},  # peers without mesh
        _ONE_PEER | {"peers": [_ONE_PEER["peers"][0] | {"lost": 3}]},  # more lost than sent
        _ONE_PEER | {"peers": [_ONE_PEER["peers"][0] | {"port": 70000}]},
        _NO_MESH | {"mesh": "false"},
    ],
    ids=["empty", "peers-without-mesh", "lost-over-probes", "port", "mesh-as-text"],
)
def test_a_table_that_breaks_the_schema_is_not_pingd(server, table):
    from pingctl.errors import NotPingd

    s = server(lambda seq: [protocol.encode_peers_reply(seq, table)])
    with _client(s.port) as client, pytest.raises(NotPingd):
        client.peers()


def test_a_status_reply_to_peers_is_not_pingd(server):
    from pingctl.errors import NotPingd

    status = {key: (0 if kind in (int, float) else "x") for key, (kind, _) in protocol.STATUS_SCHEMA.items()}
    s = server(lambda seq: [protocol.encode_status_reply(seq, status)])
    with _client(s.port) as client, pytest.raises(NotPingd):
        client.peers()


def test_silence_to_peers_is_no_answer(server):
    from pingctl.errors import NoAnswer

    s = server(None)
    with _client(s.port, timeout=0.3) as client, pytest.raises(NoAnswer):
        client.peers()


def test_a_broken_reply_naming_another_request_is_dropped_not_taken_for_no_pingd(server):
    """The specification: drop a reply you are not waiting for, however broken its body."""
    broken = protocol.HEADER.pack(protocol.MAGIC, protocol.VERSION, protocol.MessageType.PEERS_REPLY, 1) + b"{oops"
    s = server(lambda seq: [broken.replace(b"\x00" * 7 + b"\x01", (seq + 1000).to_bytes(8, "big"), 1),
                            protocol.encode_peers_reply(seq, _NO_MESH)])  # fmt: skip
    with _client(s.port) as client:
        assert client.peers() == _NO_MESH


def test_a_broken_reply_naming_this_request_is_no_pingd(server):
    from pingctl.errors import NotPingd

    s = server(lambda seq: [protocol.HEADER.pack(protocol.MAGIC, protocol.VERSION, protocol.MessageType.PEERS_REPLY,
                                                 seq) + b"{oops"])  # fmt: skip
    with _client(s.port) as client, pytest.raises(NotPingd):
        client.peers()


def test_a_peers_reply_over_64_kib_is_no_pingds(server):
    """libzmq drops the connection of a peer that sends more than the client takes (a broken
    handshake, as it reports it); after a first contact that is a reply no pingd sends."""
    from pingctl.errors import NotPingd

    huge = dict(_NO_MESH, padding="x" * protocol.MAX_REPLY_SIZE)
    s = server(lambda seq: [protocol.encode_peers_reply(seq, huge)])
    with _client(s.port) as client, pytest.raises(NotPingd):
        client.peers()
