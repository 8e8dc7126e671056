"""The protocol specification's own table of cases (docs/protocol.md), one test per row,
against a live daemon: the document and the daemon cannot drift apart."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import zmq

from pingctl.client import PingClient, Target
from pingd.shared import protocol
from tests.support.fakes import dealer

SPEC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


@dataclass(frozen=True)
class Case:
    name: str
    socket: str
    frames: tuple[bytes, ...]
    reply: str
    code: int | None
    seq: int
    count_moves: bool


def _frame(text: str) -> bytes:
    text = text.strip()
    if text == '""':
        return b""
    hexdigits = ""
    for part in text.split():
        if "…" in part:  # 00…200: that byte until the frame is 200 bytes long
            byte, length = part.split("…")
            hexdigits += byte * (int(length) - len(hexdigits) // 2)
        else:
            hexdigits += part
    return bytes.fromhex(hexdigits)


def cases() -> list[Case]:
    text = SPEC.read_text(encoding="utf-8")
    table = text.split("<!-- conformance:begin -->")[1].split("<!-- conformance:end -->")[0]
    rows = [line for line in table.strip().splitlines()[2:] if line.startswith("|")]
    out = []
    for row in rows:
        name, socket_kind, request, reply, code, seq, count = (c.strip() for c in row.strip("|").split("|"))
        frames = tuple(_frame(f) for f in request.strip("`").split(" / "))
        out.append(Case(name, socket_kind, frames, reply, int(code) if code else None, int(seq), count == "+1"))
    return out


CASES = cases()


def test_the_table_is_there_and_covers_every_rule():
    assert len(CASES) >= 20
    assert {c.code for c in CASES} >= {None, 1, 2, 3}
    assert {c.socket for c in CASES} == {"DEALER", "REQ"}


def _count(port: int) -> int:
    with PingClient(Target("127.0.0.1", port), 5.0) as client:
        return client.status().count


@pytest.fixture(scope="module")
def daemon_port(tmp_path_factory):
    from tests.support.processes import Daemon, base_env

    state = tmp_path_factory.mktemp("conformance") / "state.json"
    d = Daemon(args=["--bind", "127.0.0.1", "--port", "0", "--no-mdns", "--state-file", str(state)], env=base_env())
    d.start()
    yield d.port
    d.kill()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_conformance(case: Case, daemon_port):
    before = _count(daemon_port)
    context = zmq.Context()
    sock = context.socket(zmq.REQ if case.socket == "REQ" else zmq.DEALER)
    sock.linger = 0
    sock.rcvtimeo = 5000
    sock.connect(f"tcp://127.0.0.1:{daemon_port}")
    try:
        sock.send_multipart(list(case.frames))
        received = sock.recv_multipart()
    finally:
        sock.close(0)
        context.term()
    if case.socket == "DEALER" and case.frames[0] == b"" and len(case.frames) > 1:
        assert received[0] == b"", "a request after an empty delimiter is answered after one"
        received = received[1:]
    [frame] = received
    reply = protocol.decode_reply(frame)
    expected = {"PONG": protocol.Pong, "STATUS_REPLY": protocol.StatusReply, "ERROR": protocol.ErrorReply}[case.reply]
    assert isinstance(reply, expected), reply
    assert reply.seq == case.seq
    if case.code is not None:
        assert reply.code == case.code, reply
    after = _count(daemon_port)
    assert after == before + (1 if case.count_moves else 0)


def test_an_oversized_frame_drops_the_connection_and_is_never_answered(daemon_port):
    """What is guaranteed, and nothing that depends on timing: the oversized frame gets no
    reply, the connection is dropped, and the DEALER's next connection is served. A request
    sent right behind the frame is lost with the connection if it had left the client, and
    answered on the next one if it had not; either may happen, and the test takes both."""
    from pingctl.client import monitor_event
    from pingd.shared.protocol import Pong

    with dealer(daemon_port) as sock:
        monitor = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        try:
            sock.send(protocol.encode_ping(1))
            assert sock.poll(5000)
            sock.recv()  # connected and answered
            sock.send(b"PD\x01\x01" + bytes(8) + bytes(300))  # 312 bytes: over the per-frame limit
            sock.send(protocol.encode_ping(2))  # right behind it on the same connection
            assert monitor.poll(5000), "the connection was not dropped"
            assert monitor_event(monitor.recv_multipart()) == zmq.EVENT_DISCONNECTED
        finally:
            sock.disable_monitor()
            monitor.close(0)
        sock.send(protocol.encode_ping(3))  # the DEALER reconnects by itself
        answered: list[int] = []
        while 3 not in answered:
            assert sock.poll(10_000), f"no reply to ping 3 after the reconnect (answered: {answered})"
            reply = protocol.decode_reply(sock.recv())
            assert isinstance(reply, Pong), reply  # never an ERROR: the big frame is not answered
            answered.append(reply.seq)
        assert answered in ([3], [2, 3])
