"""Asking every daemon at once: each answer, or each daemon's reason for none, in order."""

from __future__ import annotations

import socket

from pingctl import fleet
from pingctl.errors import Unreachable
from pingctl.find.mdns import Found
from pingctl.show import render
from pingd.shared import protocol
from tests.support import wire
from tests.support.fakes import ScriptedRouter

STATUS = {
    "count": 7, "node_id": "n", "name": "box", "version": "0.1.0", "protocol": 1, "uptime_seconds": 61.0,
    "pings_served": 3, "durability": "periodic", "storage": "ok", "security": "plain", "curve_public_key": None,
}  # fmt: skip


def _found(name: str, port: int) -> Found:
    return Found(name, f"{name}.local", ("127.0.0.1",), port, "n", "0.1.0", "1")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_every_daemon_answers_or_says_why_in_the_order_found():
    router = ScriptedRouter([lambda seq: [protocol.encode_status_reply(seq, STATUS)]])
    try:
        results = fleet.statuses([_found("box", router.port), _found("gone", _closed_port())], timeout=2.0)
    finally:
        router.close()
    ok, gone = results
    assert ok.status is not None and ok.status.count == 7 and ok.target is not None and ok.error is None
    assert gone.status is None and isinstance(gone.error, Unreachable)
    rows = render.fleet_status_rows(results, lambda error: f"unreachable: {error.where}")
    assert rows[1][:5] == ("box", f"127.0.0.1:{router.port}", "7", "3", "1m 1s")
    assert rows[2][0] == "gone" and rows[2][-1].startswith("unreachable: 127.0.0.1:")
    assert fleet.statuses([], timeout=1.0) == []


def test_tables_align_and_escape():
    lines = render.table([("NAME", "COUNT", "NOTE"), ("box\x1b[2J", "7", "ok"), ("a", "12345", "")])
    assert lines == ["NAME        COUNT  NOTE", "box\\x1b[2J  7      ok", "a           12345"]


def test_connect_leaves_each_answering_client_open_for_its_session():
    router = ScriptedRouter([
        lambda seq: [protocol.encode_status_reply(seq, STATUS)],
        lambda seq: [wire.pong(seq, 8)],
    ])  # fmt: skip
    try:
        ok, gone = fleet.connect([_found("box", router.port), _found("gone", _closed_port())], timeout=2.0)
        assert gone.client is None and isinstance(gone.error, Unreachable)
        assert ok.client is not None and ok.client.target == ok.target
        result = ok.client.ping()  # the same connection goes on to ping
        assert result.ok and result.count == 8
        ok.client.close()
    finally:
        router.close()
    assert all(s.client is None for s in fleet.statuses([], timeout=1.0))


def test_three_hundred_silent_daemons_cost_one_timeout_not_one_per_32():
    """Holds off a fleet asked 32 at a time: 300 silent registrations (stale records of killed
    daemons) made `status --all` and `ping --all` take N/32 x --timeout (12 s at 1 s)."""
    import time

    from pingctl.errors import NoAnswer

    with socket.socket() as silent:  # accepts connections, never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(512)
        port = silent.getsockname()[1]
        found = [_found(f"stale-{i:03d}", port) for i in range(300)]
        started = time.monotonic()
        results = fleet.statuses(found, timeout=1.0)
        took = time.monotonic() - started
    print(f"300 silent daemons asked in {took:.2f} s")
    assert [r.found.name for r in results] == [f.name for f in found]
    assert all(isinstance(r.error, NoAnswer) for r in results)
    assert took < 2.0
