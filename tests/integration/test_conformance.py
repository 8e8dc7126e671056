"""The protocol specification (docs/protocol.md) against a live daemon: its table of cases, one
test per row, and beside it one test for each promise that needs more than one request, a
daemon in a particular state, or a look below the ZeroMQ library (CURVE's promises are in
test_conformance_curve.py). Each asserts only what the document guarantees: where it says
"either", the test takes either."""

from __future__ import annotations

import contextlib
import json
import resource
import secrets
import signal
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest
import zmq

from pingd.shared import protocol
from pingd.shared.protocol import ErrorReply, Pong, StatusReply
from tests.support import asking
from tests.support.fakes import dealer
from tests.support.processes import Daemon, wait_for
from tests.support.zmtp import RawPeer, message, unread_bytes

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
    assert len(CASES) >= 30
    assert {c.code for c in CASES} >= {None, 1, 2, 3}
    assert {c.socket for c in CASES} == {"DEALER", "REQ"}


@pytest.fixture(scope="module")
def daemon_port(tmp_path_factory):
    d = asking.start(tmp_path_factory.mktemp("conformance"))
    yield d.port
    d.kill()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_conformance(case: Case, daemon_port):
    before = asking.count(daemon_port)
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
    expected = {
        "PONG": protocol.Pong,
        "STATUS_REPLY": protocol.StatusReply,
        "PROBE_REPLY": protocol.ProbeReply,
        "PEERS_REPLY": protocol.PeersReply,
        "ERROR": protocol.ErrorReply,
    }[case.reply]
    assert isinstance(reply, expected), reply
    assert reply.seq == case.seq
    if case.code is not None:
        assert reply.code == case.code, reply
    after = asking.count(daemon_port)
    assert after == before + (1 if case.count_moves else 0)


def _mixed(n: int) -> list[bytes]:
    """Requests 1..n: a PING, a STATUS and a frame with bad magic (ERROR 1, seq echoed), in turn."""
    bad = lambda seq: b"XX\x01\x01" + seq.to_bytes(8, "big")  # noqa: E731
    make = (protocol.encode_ping, protocol.encode_status_request, bad)
    return [make[seq % 3](seq) for seq in range(1, n + 1)]


def _replies(sock: zmq.Socket, requests: list[bytes]) -> list[protocol.Reply]:
    for frame in requests:
        sock.send(frame)
    out = []
    for _ in requests:
        assert sock.poll(10_000), f"{len(out)} of {len(requests)} replies"
        out.append(protocol.decode_reply(sock.recv()))
    return out


# -- Order, and the count a STATUS reports ----------------------------------------------------


def _in_request_order(replies: list[protocol.Reply], count: int) -> list[tuple[int, int]]:
    """Checks that the replies answer requests 1..n in order, each of its kind (_mixed), and
    that the PONGs count on from ``count`` one by one; returns each STATUS's count beside
    the PONG count before it."""
    kinds = (Pong, StatusReply, ErrorReply)
    assert [(type(r), r.seq) for r in replies] == [(kinds[seq % 3], seq) for seq in range(1, len(replies) + 1)]
    statuses = []
    for reply in replies:
        if isinstance(reply, Pong):
            assert reply.count == count + 1
            count = reply.count
        elif isinstance(reply, StatusReply):
            statuses.append((reply.status.count, count))
    return statuses


def test_with_sync_periodic_replies_keep_the_order_of_requests_and_status_counts_every_ping_before_it(daemon_port):
    count = asking.count(daemon_port)
    with dealer(daemon_port) as sock:
        replies = _replies(sock, _mixed(60))
    for status_count, pong_count in _in_request_order(replies, count):
        assert status_count == pong_count


def test_with_sync_always_replies_keep_the_order_of_requests_and_status_never_counts_less(tmp_path):
    """Answered in groups after one commit each: a STATUS counts its whole group, so never less
    than the PONG before it, and possibly more."""
    daemon = asking.start(tmp_path, "--sync", "always")
    try:
        with dealer(daemon.port) as sock:
            replies = _replies(sock, _mixed(300))
    finally:
        daemon.kill()
    statuses = _in_request_order(replies, 0)
    assert len(statuses) == 100
    for status_count, pong_count in statuses:
        assert pong_count <= status_count <= 100


# -- Oversized frames, and requests that already left -----------------------------------------


def test_an_oversized_frame_drops_the_connection_and_is_never_answered(daemon_port):
    """The oversized frame gets no reply and the DEALER's next connection is served. The PING
    right behind it is lost if it had left the client, and answered on the next connection if
    it had not: the test takes either, and checks that it was counted exactly when answered."""
    before = asking.count(daemon_port)
    with dealer(daemon_port) as sock:
        assert isinstance(asking.ask(sock, protocol.encode_ping(1)), Pong)
        oversized = b"PD\x01\x01" + bytes(8) + bytes(300)  # 312 bytes: over the per-frame limit
        asking.event_after(sock, zmq.EVENT_DISCONNECTED, oversized, protocol.encode_ping(2))  # 2: right behind it
        sock.send(protocol.encode_ping(3))  # the DEALER reconnects by itself
        answered: list[int] = []
        while 3 not in answered:
            assert sock.poll(10_000), f"no reply to ping 3 after the reconnect (answered: {answered})"
            reply = protocol.decode_reply(sock.recv())
            assert isinstance(reply, Pong), reply  # never an ERROR: the big frame is not answered
            answered.append(reply.seq)
    assert answered in ([3], [2, 3])
    assert asking.count(daemon_port) == before + 1 + len(answered)


def test_requests_before_an_oversized_frame_are_counted_and_the_one_behind_it_is_not(daemon_port):
    """Five PINGs, a frame over the limit and a PING, in one write: the five reach pingd and
    are counted whether or not their PONGs come; the sixth is never read."""
    before = asking.count(daemon_port)
    with RawPeer(daemon_port) as peer:
        pings = [message(protocol.encode_ping(seq)) for seq in range(1, 6)]
        peer.write(b"".join(pings) + message(b"PD\x01\x01" + bytes(300)) + message(protocol.encode_ping(6)))
        answered = []
        with contextlib.suppress(ConnectionError):
            while True:
                answered.append(protocol.decode_reply(peer.recv(timeout=10)[0]))
    assert all(isinstance(r, Pong) for r in answered) and [r.seq for r in answered] == list(range(1, len(answered) + 1))
    wait_for(lambda: asking.count(daemon_port) == before + 5, 10, "the five PINGs before the frame to be counted")
    with dealer(daemon_port) as sock:
        reply = asking.ask(sock, protocol.encode_ping(7))
    assert isinstance(reply, Pong) and reply.count == before + 6, "the PING behind the frame was counted"


def _stopped(daemon: Daemon) -> bool:
    assert daemon.proc is not None
    tasks = Path(f"/proc/{daemon.proc.pid}/task").iterdir()
    return all((task / "stat").read_text().rsplit(")", 1)[1].split()[0] in "tT" for task in tasks)


def test_a_ping_that_left_before_its_socket_closed_is_counted_and_its_pong_reaches_no_other_socket(tmp_path):
    daemon = asking.start(tmp_path)
    try:
        with dealer(daemon.port) as old:
            assert isinstance(asking.ask(old, protocol.encode_ping(1)), Pong)  # connected
            daemon.signal(signal.SIGSTOP)  # pingd reads nothing until SIGCONT; the kernel still receives
            wait_for(lambda: _stopped(daemon), 10, "every thread of pingd to stop")
            old.send(protocol.encode_ping(2))
            wait_for(lambda: unread_bytes(daemon.port) >= 14, 10, "PING 2 to reach the daemon's host")
        # The old socket is closed (linger 0), and only then does pingd read PING 2.
        daemon.signal(signal.SIGCONT)
        wait_for(lambda: asking.count(daemon.port) == 2, 10, "PING 2 to be counted")
        with dealer(daemon.port) as new:
            reply = asking.ask(new, protocol.encode_ping(3))
            assert isinstance(reply, Pong) and (reply.seq, reply.count) == (3, 3)
            assert not new.poll(200), "a late reply reached a new socket"
    finally:
        daemon.signal(signal.SIGCONT)
        daemon.kill()


# -- Sockets and ZeroMQ stacks ----------------------------------------------------------------


def test_a_router_client_names_pingd_with_connect_routing_id(daemon_port):
    context = zmq.Context()
    router = context.socket(zmq.ROUTER)
    router.linger = 0
    router.router_mandatory = True  # a send to a peer not (yet) connected fails instead of vanishing
    router.connect_rid = b"pingd"
    router.connect(f"tcp://127.0.0.1:{daemon_port}")
    try:
        router.send_multipart([b"pingd", protocol.encode_ping(1)])
        assert router.poll(5000)
        name, frame = router.recv_multipart()
        assert name == b"pingd" and protocol.decode_reply(frame).seq == 1
        router.send_multipart([b"pingd", b"", protocol.encode_status_request(2)])
        assert router.poll(5000)
        name, delimiter, frame = router.recv_multipart()
        assert (name, delimiter) == (b"pingd", b"") and isinstance(protocol.decode_reply(frame), StatusReply)
    finally:
        router.close(0)
        context.term()


def test_a_connection_announcing_a_routing_id_in_use_is_never_served(daemon_port):
    routing_id = b"conformance-" + secrets.token_hex(4).encode()
    with dealer(daemon_port, routing_id=routing_id) as first:
        before = asking.ask(first, protocol.encode_ping(1)).count
        with dealer(daemon_port, routing_id=routing_id) as second:
            second.send(protocol.encode_ping(2))
            assert not second.poll(1000), "a second connection with the same routing id was answered"
        reply = asking.ask(first, protocol.encode_ping(3))
    assert isinstance(reply, Pong) and reply.count == before + 1, "the second connection's PING was counted"


def test_a_connection_that_does_not_finish_the_handshake_is_dropped(daemon_port):
    with (
        socket.create_connection(("127.0.0.1", daemon_port), timeout=10) as raw,
        contextlib.suppress(ConnectionResetError),
    ):
        while raw.recv(64):
            pass  # pingd's greeting; then the end, when it drops the connection after 2 s


@pytest.mark.parametrize("version", [3, 2], ids=["ZMTP 3.0", "ZMTP 2.0"])
def test_a_zeromq_stack_written_by_hand_is_served(daemon_port, version):
    with RawPeer(daemon_port, version=version) as peer:
        peer.send(protocol.encode_ping(1))
        [frame] = peer.recv()
        assert isinstance(protocol.decode_reply(frame), Pong) and protocol.decode_reply(frame).seq == 1
        peer.send(b"", protocol.encode_status_request(2))
        delimiter, frame = peer.recv()
        assert delimiter == b"" and isinstance(protocol.decode_reply(frame), StatusReply)


# -- Error codes 4 and 5, provoked as the document says ------------------------------------


def test_error_5_once_the_count_is_at_its_top(tmp_path):
    (tmp_path / "state.json").write_text('{"format": 1, "node_id": "a1", "count": 18446744073709551615}\n')
    daemon = asking.start(tmp_path)
    try:
        with dealer(daemon.port) as sock:
            reply = asking.ask(sock, protocol.encode_ping(7))
            assert isinstance(reply, ErrorReply) and (reply.code, reply.seq) == (5, 7)
            status = asking.status(sock, 8)
    finally:
        daemon.kill()
    assert (status.count, status.pings_served) == (2**64 - 1, 0)


def test_error_4_while_the_daemon_cannot_write_its_state_file(tmp_path):
    daemon = asking.start(tmp_path)
    assert daemon.proc is not None
    limit = resource.prlimit(daemon.proc.pid, resource.RLIMIT_FSIZE)
    try:
        with dealer(daemon.port) as sock:
            assert asking.ask(sock, protocol.encode_ping(1)).count == 1
            resource.prlimit(daemon.proc.pid, resource.RLIMIT_FSIZE, (1, limit[1]))  # prlimit --fsize=1:
            reply = asking.ask(sock, protocol.encode_ping(2))
            assert isinstance(reply, ErrorReply) and (reply.code, reply.seq) == (4, 2), reply
            assert str(tmp_path) not in reply.text  # no path: the log has it
            status = asking.status(sock, 3)
            assert status.count == 1 and status.storage != "ok"
            resource.prlimit(daemon.proc.pid, resource.RLIMIT_FSIZE, limit)
            reply = asking.ask(sock, protocol.encode_ping(4))
            assert isinstance(reply, Pong) and reply.count == 2  # PING 2 was never counted
    finally:
        daemon.kill()


def test_status_reply_is_ascii_json_with_sorted_keys_within_its_bound(daemon_port):
    with dealer(daemon_port) as sock:
        sock.send(protocol.encode_status_request(1))
        assert sock.poll(5000)
        frame = sock.recv()
    body = frame[protocol.HEADER_SIZE :].decode("ascii")  # non-ASCII text would come as \\uXXXX
    assert body == json.dumps(json.loads(body), separators=(",", ":"), sort_keys=True)
    announced = json.loads(body)["announced"]
    assert announced == "not announced (--no-mdns, no --dns-domain)"
    assert len(frame) <= 659 + 15 + len(json.dumps(announced)) - 2
    assert len(frame) <= 13_203  # the bound whatever the daemon announces (docs/protocol.md)


# -- Heartbeats: a trial of about 40 s, run beside the rest of the suite ----------------------


def test_a_zmtp_3_peer_that_ignores_heartbeats_is_dropped_and_one_that_answers_them_is_kept(heartbeat_trial):
    """pingd sends a PING command every 10 s, and drops a connection that sends nothing within
    30 s of one (about 40 s in all); the peer that answers them is served after that. The
    trial begins with the first integration test and this test runs last (tests/integration/
    conftest.py), so its 40 s pass beside the rest of the suite."""
    trial = heartbeat_trial.outcome(90)
    assert trial.silent_dropped, "a peer that ignores PING commands was kept"
    assert trial.silent_commands is not None and b"PING" in trial.silent_commands
    [(commands, reply)] = trial.kept
    assert b"PING" in commands and isinstance(reply, Pong)
