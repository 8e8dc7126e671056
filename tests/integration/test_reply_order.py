"""The order of one connection's replies, against a live daemon in both ``--sync`` modes: the
replies come in the order of the requests, and a STATUS never reports a count below that of a
PONG answered before it. The requests leave in one write, so that pingd finds them waiting
together and, with ``--sync always``, answers them as batches after one commit each."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pingd.shared import protocol
from pingd.shared.protocol import ErrorReply, Pong, StatusReply
from tests.support.processes import Daemon, base_env
from tests.support.zmtp import RawPeer, message

#: More than a batch holds (pingd.serve.loop.MAX_BATCH, 256): two batches at least.
REQUESTS = 300


@pytest.fixture(params=["periodic", "always"])
def daemon(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Daemon]:
    args = ["--bind", "127.0.0.1", "--port", "0", "--no-mdns", "--sync", request.param]
    d = Daemon(args=[*args, "--state-file", str(tmp_path / "state.json")], env=base_env()).start()
    yield d
    d.kill()


def _unknown_type(seq: int) -> bytes:
    return b"PD\x01\x42" + seq.to_bytes(8, "big")


#: Request ``seq`` is made by ``TURNS[seq % 4]``, and answered with a reply of its type.
TURNS = (
    (_unknown_type, ErrorReply),  # ERROR 3
    (protocol.encode_ping, Pong),
    (protocol.encode_status_request, StatusReply),
    (protocol.encode_ping, Pong),
)


def test_one_connections_replies_follow_its_requests_and_a_status_never_counts_less(daemon: Daemon) -> None:
    assert daemon.port is not None
    with RawPeer(daemon.port) as peer:
        peer.write(b"".join(message(TURNS[seq % 4][0](seq)) for seq in range(1, REQUESTS + 1)))
        replies = [protocol.decode_reply(peer.recv(timeout=20)[0]) for _ in range(REQUESTS)]
    assert [r.seq for r in replies] == list(range(1, REQUESTS + 1))
    assert [type(r) for r in replies] == [TURNS[seq % 4][1] for seq in range(1, REQUESTS + 1)]
    last_pong = 0
    for reply in replies:
        if isinstance(reply, Pong):
            assert reply.count == last_pong + 1
            last_pong = reply.count
        elif isinstance(reply, StatusReply):
            assert reply.status.count >= last_pong, f"STATUS {reply.seq} behind the PONG before it"
