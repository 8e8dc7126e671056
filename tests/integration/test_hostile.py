"""Anything may arrive on pingd's port; pingctl may be pointed at anything."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading

import pytest
import zmq
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pingctl.client import PingClient, Target
from pingd.shared import protocol
from tests.support.fakes import TcpServer, dealer, fake_router
from tests.support.processes import base_env, pingctl, pingctl_background, rss_kib, wait_for


def _status(port: int) -> protocol.Status:
    with PingClient(Target("127.0.0.1", port), 5.0) as client:
        return client.status()


def _ping_works(port: int) -> int:
    with PingClient(Target("127.0.0.1", port), 5.0) as client:
        result = client.ping()
    assert result.ok, result
    return result.count


def _is_valid_ping(frames: list[bytes]) -> bool:
    """One PING frame, alone or after an empty delimiter (as a REQ socket sends it)."""
    if len(frames) == 2 and frames[0] == b"":
        frames = frames[1:]
    return len(frames) == 1 and len(frames[0]) == protocol.HEADER_SIZE and frames[0][:4] == b"PD\x01\x01"


frames_strategy = st.lists(
    st.one_of(
        st.binary(max_size=64),
        st.builds(
            lambda v, t, rest: b"PD" + bytes([v, t]) + rest,
            st.integers(0, 255),
            st.integers(0, 255),
            st.binary(max_size=40),
        ),
    ),
    min_size=1,
    max_size=4,
)


def test_arbitrary_multipart_messages_never_move_the_count(spawn_daemon):
    daemon = spawn_daemon()
    before = _status(daemon.port).count
    context = zmq.Context()
    sock = context.socket(zmq.DEALER)
    sock.linger = 0
    sock.connect(f"tcp://127.0.0.1:{daemon.port}")
    replies = {"n": 0}

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(frames_strategy)
    def throw(frames):
        assume(not _is_valid_ping(frames))
        sock.send_multipart(frames)
        if sock.poll(2000):
            received = sock.recv_multipart()
            if len(frames) > 1 and frames[0] == b"":  # a REQ envelope is answered in one
                assert received[0] == b""
                received = received[1:]
            [frame] = received
            reply = protocol.decode_reply(frame)
            assert isinstance(reply, protocol.ErrorReply | protocol.StatusReply)
            replies["n"] += 1

    try:
        throw()
    finally:
        sock.close(0)
        context.term()
    assert replies["n"] > 0
    assert daemon.proc.poll() is None
    assert _status(daemon.port).count == before
    assert _ping_works(daemon.port) == before + 1


def test_error_replies_say_what_was_wrong(spawn_daemon):
    daemon = spawn_daemon()
    context = zmq.Context()
    sock = context.socket(zmq.DEALER)
    sock.linger = 0
    sock.connect(f"tcp://127.0.0.1:{daemon.port}")
    try:
        cases = [
            ([b"PD\x02\x01" + (7).to_bytes(8, "big")], protocol.ErrorCode.UNSUPPORTED_VERSION, 7),
            ([b"PD\x01\x09" + (8).to_bytes(8, "big")], protocol.ErrorCode.NOT_A_REQUEST, 8),
            ([b"hello"], protocol.ErrorCode.MALFORMED, 0),
            ([protocol.encode_ping(9), b"extra"], protocol.ErrorCode.MALFORMED, 9),  # seq echoed
        ]
        for frames, code, seq in cases:
            sock.send_multipart(frames)
            assert sock.poll(5000)
            reply = protocol.decode_reply(sock.recv())
            assert (reply.code, reply.seq) == (code, seq), reply
    finally:
        sock.close(0)
        context.term()
    assert _status(daemon.port).count == 0


def test_raw_garbage_and_vanishing_peers_do_not_hurt(spawn_daemon):
    daemon = spawn_daemon()
    payloads = [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        bytes(range(256)) * 8,
        b"\xff" + bytes(8) + b"\x7f" + b"\x03" * 60,
        b"",
    ]
    for payload in payloads * 5:
        with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as raw:
            if payload:
                raw.sendall(payload)
    # A peer that completes nothing and just holds the connection open.
    idle = socket.create_connection(("127.0.0.1", daemon.port), timeout=5)
    try:
        assert _ping_works(daemon.port) == 1
    finally:
        idle.close()
    assert daemon.proc.poll() is None and _status(daemon.port).count == 1


def test_oversized_messages_are_refused_without_memory_growth(spawn_daemon):
    daemon = spawn_daemon()
    _ping_works(daemon.port)
    before = rss_kib(daemon.proc.pid)
    context = zmq.Context()
    try:
        for _ in range(20):
            sock = context.socket(zmq.DEALER)
            sock.linger = 0
            sock.sndtimeo = 5000
            sock.connect(f"tcp://127.0.0.1:{daemon.port}")
            sock.send(b"PD\x01\x01" + bytes(8 * 1024 * 1024))  # 8 MiB: libzmq drops the peer
            assert not sock.poll(200)  # no reply: the connection was dropped, not served
            sock.close(0)
    finally:
        context.term()
    growth_mb = (rss_kib(daemon.proc.pid) - before) / 1024
    assert growth_mb < 5, growth_mb
    assert _ping_works(daemon.port) == 2


# --- pingctl pointed at the wrong thing --------------------------------------------------------


def _http(conn: socket.socket) -> None:
    conn.settimeout(1)
    try:
        conn.recv(100)
    except TimeoutError:
        pass
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    conn.close()


def _silent(conn: socket.socket) -> None:
    pass  # accepts and never says a word


def _pingctl_at(handler, command: str):
    """``pingctl command`` (timeout 1 s) pointed at a TCP server that runs ``handler``; its one
    line on stderr, with no traceback, within the timeout."""
    server = TcpServer(handler)
    try:
        run = pingctl(command, "--server-ip", "127.0.0.1", "--port", str(server.port), "--timeout", "1")
    finally:
        server.close()
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr, run.stderr
    assert run.seconds < 1 + 5
    return run


@pytest.mark.parametrize("command", ["ping", "status"])
def test_a_program_that_does_not_speak_zeromq_is_one_line_and_exit_2(command):
    run = _pingctl_at(_http, command)
    assert run.code == 2 and "does not speak ZeroMQ" in run.stderr, run


@pytest.mark.parametrize("command, code", [("ping", 1), ("status", 2)])
def test_a_program_that_connects_and_never_answers_is_one_line_ping_exit_1_status_exit_2(command, code):
    """ping as iputils ping when no reply comes (1); status got nothing to show (2)."""
    run = _pingctl_at(_silent, command)
    assert run.code == code and "no answer from pingd" in run.stderr and "connected" in run.stderr, run


def test_daemon_of_another_protocol_version_is_one_line_and_exit_2():
    with fake_router(lambda frame: b"PD\x02\xff" + frame[4:12] + b"\x00\x02" + b"speak v2") as port:
        run = pingctl("ping", "--server-ip", "127.0.0.1", "--port", str(port), "--timeout", "2")
    assert run.code == 2
    assert run.stderr.count("\n") == 1 and "speaks pingd protocol 2, this pingctl speaks 1" in run.stderr


#: Run a command with SIGINT ignored, as a shell starts one in the background of a script.
SIGINT_IGNORED = ("sh", "-c", 'trap "" INT; exec "$@"', "sh")


@pytest.mark.parametrize("prefix", [(), SIGINT_IGNORED], ids=["ctrl-c", "kill-int-in-a-script's-background"])
def test_ctrl_c_prints_the_summary_of_what_ran(spawn_daemon, prefix):
    """Also when the shell started pingctl with SIGINT ignored: `kill -INT` ends it as ping's."""
    daemon = spawn_daemon()
    session = pingctl_background(
        "ping", "--server-ip", "127.0.0.1", "--port", str(daemon.port), "-i", "0.05", "-c", "0", prefix=prefix
    )
    try:
        wait_for(lambda: session.count("pong") >= 3, 20, "three pongs")
        session.proc.send_signal(signal.SIGINT)
        code = session.wait(20)
    finally:
        session.kill()
    assert code == 0
    pongs = session.count("pong")
    # A ping in flight when Ctrl-C lands counts as transmitted and lost, as ping counts it.
    assert any(
        line.startswith(
            (f"{pongs} pings transmitted, {pongs} received", f"{pongs + 1} pings transmitted, {pongs} received")
        )
        for line in session.lines
    ), session.lines
    assert "Traceback" not in session.proc.stderr.read()


# --- a hostile daemon ----------------------------------------------------------------------------

GOOD_STATUS = {
    "count": 1,
    "node_id": "abcd",
    "name": "box",
    "version": "0.1.0",
    "protocol": 1,
    "uptime_seconds": 5.0,
    "pings_served": 1,
    "durability": "periodic",
    "storage": "ok",
    "security": "plain",
    "curve_public_key": None,
}


def _status_server(body: bytes):
    """Answers STATUS with ``body`` as the STATUS_REPLY's JSON, PINGs with a pong."""

    def reply(frame):
        if frame[3] == protocol.MessageType.STATUS:
            return b"PD\x01\x04" + frame[4:12] + body
        return protocol.pong_for(frame, 1)

    return fake_router(reply)


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 30000 + b"]" * 30000,
        json.dumps({**GOOD_STATUS, "uptime_seconds": "forever"}).encode(),
        json.dumps({**GOOD_STATUS, "uptime_seconds": 1e400}).encode().replace(b"Infinity", b"1e400"),
        json.dumps({**GOOD_STATUS, "count": -1}).encode(),
        json.dumps({**GOOD_STATUS, "count": 2**64}).encode(),
        json.dumps({k: v for k, v in GOOD_STATUS.items() if k != "name"}).encode(),
        b'{"count": ' + b"9" * 5000 + b"}",
    ],
)
@pytest.mark.parametrize("command", ["status", "ping"])
def test_a_hostile_status_reply_is_one_line_and_exit_2(body, command):
    with _status_server(body) as port:
        run = (
            pingctl(command, "--server-ip", "127.0.0.1", "--port", str(port), "--timeout", "2", "-c", "1")
            if command == "ping"
            else pingctl(command, "--server-ip", "127.0.0.1", "--port", str(port), "--timeout", "2")
        )
    assert run.code == 2, run.stdout
    assert run.stderr.count("\n") == 1 and "not as a pingd" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr


def test_escape_sequences_in_a_daemons_strings_are_printed_escaped():
    evil = {**GOOD_STATUS, "name": "box\x1b[2J\x1b]0;owned\x07", "storage": "ok\r\x1b[31m"}
    with _status_server(json.dumps(evil).encode()) as port:
        status = pingctl("status", "--server-ip", "127.0.0.1", "--port", str(port), "--timeout", "2")
        ping = pingctl("ping", "--server-ip", "127.0.0.1", "--port", str(port), "--timeout", "2", "-c", "1")
    for run in (status, ping):
        assert run.code == 0, run.stderr
        assert "\x1b" not in run.stdout and "\x07" not in run.stdout and "\r" not in run.stdout
        assert "box\\x1b[2J\\x1b]0;owned\\x07" in run.stdout


def test_a_client_cannot_take_the_daemons_wake_up_identity(spawn_daemon):
    daemon = spawn_daemon()
    with dealer(daemon.port, routing_id=b"pingd-wake") as sock:
        sock.send(protocol.encode_status_request(7))
        assert sock.poll(5000), "no STATUS reply for a client called pingd-wake"
        reply = protocol.decode_reply(sock.recv())
        assert isinstance(reply, protocol.StatusReply) and reply.seq == 7


def test_ctrl_c_with_a_ping_in_flight_counts_it_transmitted_and_lost():
    pinged = threading.Event()

    def reply(frame):
        if frame[3] == protocol.MessageType.STATUS:
            return b"PD\x01\x04" + frame[4:12] + json.dumps(GOOD_STATUS).encode()
        pinged.set()
        return None  # the ping stays unanswered

    with fake_router(reply) as port:
        session = pingctl_background(
            "ping", "--server-ip", "127.0.0.1", "--port", str(port), "--timeout", "30", "-c", "0"
        )
        try:
            assert pinged.wait(20), "the ping never arrived"
            session.proc.send_signal(signal.SIGINT)
            code = session.wait(20)
        finally:
            session.kill()
    assert code == 1  # no reply at all
    assert any(line.startswith("1 pings transmitted, 0 received") for line in session.lines), session.lines


def test_sigquit_before_the_session_starts_does_not_kill_pingctl():
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pingctl",
            "ping",
            "--name",
            "nobody-here",
            "--discovery-timeout",
            "2",
            "--mdns-interface",
            "127.0.0.1",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=base_env(),
    )
    try:
        # Discovery runs in zeroconf's threads: once there are some, the handler is in place.
        wait_for(
            lambda: proc.poll() is not None or len(os.listdir(f"/proc/{proc.pid}/task")) > 1, 20, "discovery to start"
        )
        proc.send_signal(signal.SIGQUIT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 2, err
    assert "0/0 pongs" in err and "no pingd named 'nobody-here'" in err
