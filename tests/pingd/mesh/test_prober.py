"""The mesh's thread (pingd.mesh.prober), in-process: a real ``Mesh`` at the shortest interval
allowed (0.5 s) probing fake peers on loopback (``fake_router``), told whom to probe by a
stand-in for ``LinkPeers``. Every wait is on a condition with a deadline."""

from __future__ import annotations

import contextlib
import math
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pingd.mesh import prober
from pingd.mesh.prober import Mesh, MeshSettings, table_of
from pingd.mesh.table import NO_MESH, Peer
from pingd.shared import protocol
from pingd.shared.schema import peers_problem
from tests.support.fakes import fake_router
from tests.support.processes import wait_for

INTERVAL = 0.5  # the shortest mesh_interval: the probe timeout is the interval, 0.5 s


class StandInFinder:
    """Whom to probe, as ``LinkPeers`` tells it: a list the test sets, and what was forgotten."""

    def __init__(self, peers: list[Peer]) -> None:
        self.listed = list(peers)
        self.forgotten: list[Peer] = []
        self.opened = self.closed = False
        self.next_question = math.inf  # never asks: nothing to wait for
        self._lock = threading.Lock()

    def open(self, now: float) -> None:
        self.opened = True

    def close(self) -> None:
        self.closed = True

    def ask(self, now: float) -> None:
        pass

    def peers(self) -> list[Peer]:
        with self._lock:
            return [p for p in self.listed if p not in self.forgotten]

    def forget(self, peer: Peer) -> None:
        with self._lock:
            self.forgotten.append(peer)


def _answering(answer: Callable[[int], bytes | None]) -> Callable[[bytes], bytes | None]:
    """A fake peer's reply to a PROBE (anything else goes unanswered)."""

    def reply(frame: bytes) -> bytes | None:
        request = protocol.decode_request(frame)
        return answer(request.seq) if isinstance(request, protocol.ProbeRequest) else None

    return reply


def _probe_reply(seq: int) -> bytes:
    return protocol.encode_probe_reply(seq)


def _old_pingd(seq: int) -> bytes:
    """What a pingd older than PROBE answers: ERROR 3, as to any unknown request."""
    return protocol.encode_error(seq, protocol.ErrorCode.NOT_A_REQUEST, "unknown request type 0x05")


def _nothing_listens() -> int:
    """A port bound on 127.0.0.1 and never listened on: a connection to it is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _peer(name: str, port: int) -> Peer:
    return Peer(name=name, node_id=f"id{name}", address="127.0.0.1", port=port)


@contextlib.contextmanager
def _mesh(*peers: Peer, seed: int = 1) -> Iterator[tuple[Mesh, StandInFinder]]:
    finder = StandInFinder(list(peers))
    mesh = Mesh(MeshSettings(INTERVAL, 64, "self", ()), seed=seed, finder=finder)  # type: ignore[arg-type]
    mesh.start()
    try:
        yield mesh, finder
    finally:
        mesh.close()


def _rows(mesh: Mesh) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in mesh.document()["peers"]}


def test_the_mesh_probes_each_peer_and_the_table_fills() -> None:
    with (
        fake_router(_answering(_probe_reply)) as a,
        fake_router(_answering(_probe_reply)) as b,
        _mesh(_peer("a", a), _peer("b", b)) as (mesh, finder),
    ):
        wait_for(
            lambda: all(r["probes"] - r["lost"] >= 3 for r in _rows(mesh).values()) and len(_rows(mesh)) == 2,
            10,
            "three answered probes of each peer",
        )
        doc = mesh.document()
        assert finder.opened and peers_problem(doc) is None
        # Seed 1 puts each peer's first probe tens of milliseconds into the first round, after
        # its connection is up: nothing on loopback is lost.
        assert [r["lost"] for r in doc["peers"]] == [0, 0]
        assert (doc["mesh"], doc["interval_seconds"], doc["window_seconds"], doc["peers_known"]) == (True, 0.5, 1.5, 2)
        for row in doc["peers"]:
            assert row["p50_seconds"] is not None and 0 < row["p50_seconds"] < 0.5
            assert row["node_id"] == "id" + row["name"] and row["address"] == "127.0.0.1"
            assert row["last_probe_seconds_ago"] is not None and row["last_probe_seconds_ago"] < 2.0
        assert mesh.describe() == "probing 2 of 2 peers every 0.5 s"


def test_a_peer_answering_error_3_is_an_old_pingd_and_counts_as_answered() -> None:
    with fake_router(_answering(_old_pingd)) as port, _mesh(_peer("old", port)) as (mesh, _):
        wait_for(lambda: _rows(mesh).get("old", {}).get("probes", 0) >= 3, 10, "three probes of the old pingd")
        row = _rows(mesh)["old"]
        assert (row["lost"], row["last_error"]) == (0, None) and row["p50_seconds"] is not None


def test_a_reply_that_is_no_pingds_is_a_lost_probe() -> None:
    with fake_router(lambda frame: b"HTTP/1.1 400 Bad Request\r\n\r\n") as port, _mesh(_peer("web", port)) as (mesh, _):
        wait_for(lambda: _rows(mesh).get("web", {}).get("lost", 0) >= 2, 10, "two lost probes")
        row = _rows(mesh)["web"]
        assert row["last_error"] == "its reply is no pingd's" and row["lost"] == row["probes"]


def test_a_silent_peers_probes_are_lost_after_the_timeout() -> None:
    with fake_router(lambda frame: None) as port, _mesh(_peer("quiet", port)) as (mesh, _):
        wait_for(lambda: _rows(mesh).get("quiet", {}).get("lost", 0) >= 2, 10, "two lost probes")
        row = _rows(mesh)["quiet"]
        assert row["last_error"] == "no reply within 0.5 s"
        assert row["lost"] == row["probes"] and row["p50_seconds"] is None


def test_a_port_with_nothing_listening_is_lost_at_once_with_no_connection() -> None:
    """Lost when sent (ZMQ_IMMEDIATE: no connection, nothing queued), not after the timeout: the
    text says which, as only the send path writes it; and no probe ever waits for a reply."""
    with _mesh(_peer("gone", _nothing_listens())) as (mesh, _):
        wait_for(lambda: _rows(mesh).get("gone", {}).get("lost", 0) >= 2, 10, "two lost probes")
        row = _rows(mesh)["gone"]
        assert all(link.flying is None for link in mesh._links.values())
    assert row["last_error"] == "no connection (refused, unreachable, or its CURVE handshake failed)"
    assert row["lost"] == row["probes"] >= 2


def test_close_returns_within_two_seconds_and_leaves_no_thread() -> None:
    before = set(threading.enumerate())
    with fake_router(_answering(_probe_reply)) as port:
        finder = StandInFinder([_peer("a", port)])
        mesh = Mesh(MeshSettings(INTERVAL, 64, "self", ()), seed=3, finder=finder)  # type: ignore[arg-type]
        mesh.start()
        wait_for(lambda: _rows(mesh).get("a", {}).get("probes", 0) >= 1, 10, "a first probe")
        started = time.monotonic()
        mesh.close()
        took = time.monotonic() - started
    assert took < 2.0, f"close took {took:.2f} s"
    assert not any(t.name == "pingd-mesh" for t in threading.enumerate())
    assert set(threading.enumerate()) <= before
    assert finder.closed


def test_a_peer_whose_probes_all_fail_for_forget_after_is_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forgotten after max(FORGET_AFTER, three intervals): here 1.5 s of failures, then no longer
    probed, and its row gone; a peer that answers is kept."""
    monkeypatch.setattr(prober, "FORGET_AFTER", 0.2)
    gone = _peer("gone", _nothing_listens())
    with fake_router(_answering(_probe_reply)) as port, _mesh(gone, _peer("here", port)) as (mesh, finder):
        wait_for(lambda: finder.forgotten == [gone], 10, "the failing peer to be forgotten")
        wait_for(lambda: "gone" not in _rows(mesh), 5, "its row to go once it is no longer listed")
        assert mesh.document()["peers_known"] == 1 and "here" in _rows(mesh)
        assert "probing 1 of 1 peers" in mesh.describe()


def test_a_peer_that_fails_only_a_while_is_not_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    """The forgetting can fail to happen: with FORGET_AFTER long, a failing peer stays listed."""
    monkeypatch.setattr(prober, "FORGET_AFTER", 3600.0)
    gone = _peer("gone", _nothing_listens())
    with _mesh(gone) as (mesh, finder):
        wait_for(lambda: _rows(mesh).get("gone", {}).get("lost", 0) >= 4, 10, "four lost probes")
        assert finder.forgotten == [] and "gone" in _rows(mesh)


def test_the_loops_table_without_a_mesh_is_the_no_mesh_table() -> None:
    table = table_of(None)()
    assert table == NO_MESH and table is not NO_MESH and peers_problem(table) is None


def test_a_mesh_that_cannot_look_for_peers_says_so_and_stops(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(StandInFinder):
        def open(self, now: float) -> None:
            raise OSError("no multicast here")

    finder = Broken([])
    mesh = Mesh(MeshSettings(INTERVAL, 64, "self", ()), finder=finder)  # type: ignore[arg-type]
    mesh.start()
    try:
        wait_for(lambda: finder.closed, 5, "the mesh to give up and close its finder")
        assert mesh.describe() == "off (cannot look for peers: no multicast here)"
        assert "mesh: cannot look for peers (no multicast here); probing nobody" in caplog.messages
    finally:
        mesh.close()


def test_sockets_are_the_rounds_peers_only_however_many_are_found() -> None:
    """100 peers found, a cap of 8: never more than 8 sockets (and connections, and reconnects to
    dead ports) at once, and the peers probed change from round to round."""
    dead = [_peer(f"dead-{i:03d}", _nothing_listens()) for i in range(100)]
    finder = StandInFinder(dead)
    mesh = Mesh(MeshSettings(INTERVAL, 8, "self", ()), seed=3, finder=finder)  # type: ignore[arg-type]
    mesh.start()
    try:
        most = 0

        def rounds_passed() -> bool:
            nonlocal most
            most = max(most, len(mesh._links))
            probed = [r for r in mesh.document()["peers"] if r["probes"]]
            return len(probed) > 8 * 2  # other peers than the first round's were probed

        wait_for(rounds_passed, timeout=20, interval=0.02, what="several rounds of 8 probed")
        assert 0 < most <= 8
        assert mesh.document()["peers_known"] == 100
    finally:
        mesh.close()


def test_peers_that_change_under_a_round_never_stop_the_mesh(caplog: pytest.LogCaptureFixture) -> None:
    """Peers renamed while a round has them planned (a flood of forged records): their probes
    are skipped, the mesh goes on probing the ones that stay, and nothing is logged as an error."""
    with fake_router(_answering(_probe_reply)) as port:
        steady = _peer("steady", port)
        finder = StandInFinder([steady])
        mesh = Mesh(MeshSettings(INTERVAL, 64, "self", ()), seed=5, finder=finder)  # type: ignore[arg-type]
        mesh.start()
        try:
            deadline = time.monotonic() + 6
            generation = 0
            while time.monotonic() < deadline:  # 60 renames: every peer but one gone within a round
                generation += 1
                churn = [_peer(f"churn-{generation}-{i}", _nothing_listens()) for i in range(5)]
                with finder._lock:
                    finder.listed = [steady, *churn]
                time.sleep(0.1)  # the churn's pace, not a synchronisation
            wait_for(lambda: _rows(mesh).get("steady", {}).get("probes", 0) >= 6, 5, "the steady peer probed on")
            assert mesh.describe().startswith("probing"), mesh.describe()
            assert not [r for r in caplog.records if r.levelname == "ERROR"]
        finally:
            mesh.close()
