"""Speaking pingd's protocol by hand to a live daemon, one request at a time, as the conformance
suite does (tests/integration/test_conformance*.py): a daemon of its own on loopback, a request
and its decoded reply, a STATUS, and what a socket's monitor saw when frames went out.

Each waits with a deadline and fails the test with what was missing, never hangs."""

from __future__ import annotations

import struct
from pathlib import Path

import zmq

from pingctl.client import PingClient, Target
from pingd.shared import protocol
from pingd.shared.protocol import StatusReply
from tests.support.processes import Daemon, base_env


def start(directory: Path, *extra: str) -> Daemon:
    """A pingd on 127.0.0.1, on a free port, its state in ``directory``; without mDNS unless
    ``extra`` asks for it (``--mdns``)."""
    args = ["--bind", "127.0.0.1", "--port", "0", "--state-file", str(directory / "state.json"), *extra]
    return Daemon(args=args if "--mdns" in extra else [*args, "--no-mdns"], env=base_env()).start()


def count(port: int) -> int:
    """The count of the daemon on ``port``, asked by pingctl's own client."""
    with PingClient(Target("127.0.0.1", port), 5.0) as client:
        return client.status().count


def ask(sock: zmq.Socket, frame: bytes) -> protocol.Reply:
    """Send one request frame and decode the reply (within 10 s)."""
    sock.send(frame)
    assert sock.poll(10_000), "no reply"
    return protocol.decode_reply(sock.recv())


def status(sock: zmq.Socket, seq: int) -> protocol.Status:
    """The daemon's status, asked on ``sock`` with sequence number ``seq``."""
    reply = ask(sock, protocol.encode_status_request(seq))
    assert isinstance(reply, StatusReply), reply
    return reply.status


def event_after(sock: zmq.Socket, events: int, *frames: bytes, connect: int | None = None) -> tuple[int, int]:
    """Send ``frames`` one after another (having connected to port ``connect``, if given), and
    return the first of ``events`` the socket's monitor reports then, with its value."""
    monitor = sock.get_monitor_socket(events)
    try:
        if connect is not None:
            sock.connect(f"tcp://127.0.0.1:{connect}")
        for frame in frames:
            sock.send(frame)
        assert monitor.poll(10_000), f"none of the events {events:#x}"
        event, value = struct.unpack_from("=HI", monitor.recv_multipart()[0])
        return event, value
    finally:
        sock.disable_monitor()
        monitor.close(0)
