"""The mesh end to end: daemons with --mesh on namespace hosts probe each other, and
`pingctl mesh`, run from a host of its own, names the host that is at fault and nothing else."""

from __future__ import annotations

import time

import pytest

from pingd.shared import protocol, service
from tests.conftest import require
from tests.support import faults
from tests.support.announcer import forged
from tests.support.fakes import fake_router
from tests.support.processes import base_env, pingctl, wait_for

HOSTS = 12
INTERVAL = 1.0  # --mesh-interval: the fault must be named within three of them


def _verdict(observer) -> tuple[set[str], list[tuple[str, str]], dict]:
    run = pingctl("mesh", "--json", prefix=observer.prefix, timeout=60)
    assert run.code == 0, run.stderr
    document = run.json()
    verdict = document["verdict"]
    return {h["name"] for h in verdict["hosts"]}, [(k["from"], k["to"]) for k in verdict["links"]], document


def _complete(document: dict) -> bool:
    """Every daemon's row is there and every cell has been probed in its window."""
    members = {m["name"] for m in document["members"]}
    cells = {(c["from"], c["to"]) for c in document["cells"] if c["probes"] > 0}
    return len(members) == HOSTS and len(cells) == HOSTS * (HOSTS - 1) and not document["without_table"]


@pytest.mark.root
def test_the_mesh_names_a_lossy_host_and_a_stalling_host_and_nothing_else(network, spawn_daemon, tmp_path):
    require(faults.available())
    hosts = [network.add_host() for _ in range(HOSTS)]
    observer = network.add_host()  # runs pingctl mesh; no daemon, no fault
    daemons = [
        spawn_daemon(
            *("--bind", "*", "--name", f"h{i:02d}", "--mesh", "--mesh-interval", str(INTERVAL)),
            *("--mdns-backend", "zeroconf"),
            mdns=True,
            prefix=host.prefix,
            state_file=tmp_path / f"{i}.json",
        )
        for i, host in enumerate(hosts)
    ]
    for daemon in daemons:
        daemon.wait_for_line("announced as")

    healthy: list[dict] = []

    def settled() -> bool:  # a whole matrix, in which a healthy fleet names nothing
        named, links, document = _verdict(observer)
        if not _complete(document):
            return False  # still starting: a first probe may meet a connection not yet up
        assert not named and not links, (
            document["verdict"],
            [c for c in document["cells"] if (c["from"], c["to"]) in links],
        )
        healthy.append(document)
        return len(healthy) >= 2

    # Runs a second apart: pingctl mesh back to back would keep a core busy beside the other
    # test worker's daemons.
    wait_for(settled, timeout=60, interval=1.0, what="a complete, healthy matrix")
    lossy, stalling = 3, 7
    with faults.dropping(hosts[lossy], 30) as dropping, faults.slowed(daemons[stalling].proc.pid) as slowing:
        injected = time.monotonic()
        expected = {f"h{lossy:02d}", f"h{stalling:02d}"}
        runs: list[tuple[float, set[str], list]] = []

        def named_both() -> bool:
            started = time.monotonic() - injected
            named, links, document = _verdict(observer)
            runs.append((started, named, links))
            # While the windows fill, a faulty host's cells may show as links first: never a
            # host or link that does not touch one of the two.
            assert named <= expected and all({a, b} & expected for a, b in links), (started, document["verdict"])
            return named == expected and not links

        # Back to back: a pause between runs could itself put the naming run past three intervals.
        wait_for(named_both, timeout=30, interval=0.0, what="pingctl mesh naming exactly the two hosts")
        first = runs[-1][0]
        assert first <= 3 * INTERVAL, runs  # the run that named them both began within three intervals
        named, links, document = _verdict(observer)  # and it holds
        assert named == expected and not links, document["verdict"]
        assert dropping.dropped > 0 and slowing.bursts > 0
    reasons = {h["name"]: h["reason"] for h in document["verdict"]["hosts"]}
    assert "loss" in reasons[f"h{lossy:02d}"] or "lose" in reasons[f"h{lossy:02d}"], reasons
    for daemon in daemons:
        assert daemon.proc.poll() is None, daemon.output()


def _old_pingd(frame: bytes) -> bytes | None:
    """A pingd from before the mesh: STATUS answered, PROBE and PEERS unknown (ERROR 3)."""
    seq = protocol.sequence_of(frame)
    if frame[3] == protocol.MessageType.STATUS:
        status = {"count": 5, "node_id": "01d", "name": "old", "version": "0.0.9", "protocol": 1,
                  "uptime_seconds": 9.0, "pings_served": 5, "durability": "periodic", "storage": "ok",
                  "security": "plain", "curve_public_key": None}  # fmt: skip
        return protocol.encode_status_reply(seq, status)
    return protocol.encode_error(seq, protocol.ErrorCode.NOT_A_REQUEST, f"unknown request type 0x{frame[3]:02x}")


def test_an_old_pingd_is_probed_and_its_row_says_it_is_too_old(spawn_daemon, tmp_path):
    """A pingd from before PROBE answers it with ERROR 3: a round trip through its loop all the
    same, so its column is measured; it cannot answer PEERS, so its row says why. A daemon
    without mesh has a row that says so."""
    lo = ("--mdns-interface", "127.0.0.1")
    meshing = [
        spawn_daemon("--name", f"new-{i}", "--mesh", "--mesh-interval", "0.5", *lo, mdns=True,
                     state_file=tmp_path / f"{i}.json")
        for i in range(2)
    ]  # fmt: skip
    quiet = spawn_daemon("--name", "no-mesh", *lo, mdns=True, state_file=tmp_path / "q.json")
    txt = {service.TXT_VERSION: "1", service.TXT_PROTOCOL: "1", service.TXT_PINGD: "0.0.9", service.TXT_NODE_ID: "01d"}
    with fake_router(_old_pingd) as port, forged("old", "127.0.0.1", txt, port=port):
        for daemon in (*meshing, quiet):
            daemon.wait_for_line("announced as")
        seen: list[dict] = []

        def measured() -> bool:
            run = pingctl("mesh", "--json", *lo)
            assert run.code == 0, run.stderr
            seen.append(run.json())
            cells = {(c["from"], c["to"]): c for c in seen[-1]["cells"]}
            return all(cells.get((f"new-{i}", "old"), {}).get("probes", 0) >= 2 for i in range(2))

        wait_for(measured, timeout=30, interval=1.0, what="both meshing daemons probing the old one")
    document = seen[-1]
    why = {row["name"]: row["reason"] for row in document["without_table"]}
    assert "older than PEERS" in why["old"] and "mesh is off" in why["no-mesh"], why
    old = [c for c in document["cells"] if c["to"] == "old"]
    assert old and all(c["lost"] == 0 and c["p50_seconds"] is not None for c in old), old
    # Other tests' daemons may share this loopback: these four are there, whatever else is.
    assert {m["name"] for m in document["members"]} >= {"new-0", "new-1", "no-mesh", "old"}


def test_an_encrypted_daemon_that_admits_nobody_has_a_row_that_says_so(spawn_daemon, tmp_path):
    """CURVE with an allow-list that lists neither pingctl nor the peers: its row says it refused
    pingctl's key; the peers' probes to it find no connection, which its column shows."""
    lo = ("--mdns-interface", "127.0.0.1")
    plain = [
        spawn_daemon("--name", f"open-{i}", "--mesh", "--mesh-interval", "0.5", *lo, mdns=True,
                     state_file=tmp_path / f"{i}" / "state.json")
        for i in range(2)
    ]  # fmt: skip
    nobody = tmp_path / "nobody"
    nobody.mkdir()
    closed = spawn_daemon("--name", "closed", "--curve", "--allow-clients", str(nobody), "--mesh", *lo, mdns=True,
                          state_file=tmp_path / "closed" / "state.json")  # fmt: skip
    for daemon in (*plain, closed):
        daemon.wait_for_line("announced as")
    env = base_env(PINGCTL_CONFIG_DIR=str(tmp_path / "client"))
    seen: list[dict] = []

    def refused_both_ways() -> bool:
        run = pingctl("mesh", "--json", *lo, env=env)
        assert run.code == 0, run.stderr
        seen.append(run.json())
        cells = [c for c in seen[-1]["cells"] if c["to"] == "closed" and c["from"] in ("open-0", "open-1")]
        return len(cells) == 2 and all(c["lost"] >= 1 for c in cells)

    wait_for(refused_both_ways, timeout=30, interval=1.0, what="the open daemons' probes to the closed one lost")
    why = {row["name"]: row["reason"] for row in seen[-1]["without_table"]}
    assert "refused this client's key" in why["closed"], why
    cells = [c for c in seen[-1]["cells"] if c["to"] == "closed" and c["from"] in ("open-0", "open-1")]
    assert all("no connection" in (c["last_error"] or "") for c in cells), cells
