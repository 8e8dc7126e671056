"""Forged announcements on the link, end to end: pingctl refuses what breaks the grammar,
pins only what proved itself, and shows an impostor as one row among the fleet."""

from __future__ import annotations

import secrets

import zmq

from pingd.shared import keys, service
from tests.support.announcer import forged
from tests.support.processes import base_env, pingctl

LO = ("--mdns-interface", "127.0.0.1")
ATTACKER_KEY = zmq.curve_keypair()[0].decode()
#: Names of this run's own: other daemons may announce on this loopback meanwhile.
RUN = secrets.token_hex(3)
BOX, EVIL, OTHER = f"box-{RUN}", f"evil-{RUN}", f"other-{RUN}"


def _server_key(state_dir) -> str:
    public, _ = keys.read_certificate(state_dir / "pingd-curve.key_secret")
    assert public
    return public


def _known_hosts(tmp_path) -> list[str]:
    """This run's pins (a fleet command also pins other encrypted daemons it meets)."""
    path = tmp_path / "pingctl" / "known_hosts"
    lines = path.read_text().splitlines() if path.exists() else []
    return [line for line in lines if RUN in line or ATTACKER_KEY in line]


def _rows(stdout: str) -> dict[str, str]:
    return {line.split()[0]: line for line in stdout.splitlines()[1:] if RUN in line.split()[0]}


def test_a_node_id_carrying_a_pin_line_plants_nothing_in_known_hosts(spawn_daemon, state_dir, tmp_path):
    """Holds off pin injection through the TXT node id: one multicast packet used to write
    `0000000000000000 <ATTACKER_KEY> box` into known_hosts, so the real box was then refused."""
    env = base_env(PINGCTL_CONFIG_DIR=str(tmp_path / "pingctl"))
    daemon = spawn_daemon("--curve", "--name", BOX, *LO, mdns=True)
    real_key = _server_key(state_dir)
    hostile = {
        **service.txt_records("0"),  # a pingd's TXT record in every other respect
        service.TXT_NODE_ID: f"0000000000000000 {ATTACKER_KEY} box\n1111111111111111",
        service.TXT_CURVE_KEY: ATTACKER_KEY,
    }
    with forged(EVIL, "127.0.0.1", hostile, port=daemon.port):
        run = pingctl("status", "--all", *LO, env=env)
        assert sorted(_rows(run.stdout)) == [BOX], run.stderr
        assert f"ignored a record: '{EVIL}': its node id" in run.stderr
        assert [line.split()[1:] for line in _known_hosts(tmp_path)] == [[real_key, BOX]]
        run = pingctl("ping", "--name", BOX, "-c", "1", "--json", *LO, env=env)
        assert run.code == 0 and run.json()["received"] == 1, run.stderr


def test_an_impostor_is_one_row_and_the_healthy_daemons_are_still_shown(spawn_daemon, state_dir, tmp_path):
    """Holds off one impostor blinding the fleet commands: with a pinned name announced with
    another key, status --all and ping --all printed the key-changed line alone and exit 2."""
    env = base_env(PINGCTL_CONFIG_DIR=str(tmp_path / "pingctl"))
    box = spawn_daemon("--curve", "--name", BOX, *LO, mdns=True)
    assert pingctl("status", "--name", BOX, *LO, env=env).code == 0  # box pinned
    node_id = pingctl("status", "--name", BOX, "--json", *LO, env=env).json()["node_id"]
    assert box.stop() == 0
    spawn_daemon("--name", OTHER, *LO, mdns=True, state_file=tmp_path / "other.json")
    impostor = {**service.txt_records(node_id, ATTACKER_KEY), service.TXT_PINGD: "9.9"}
    with forged(BOX, "127.0.0.1", impostor, port=box.port):
        run = pingctl("status", "--all", *LO, env=env)
        assert run.code == 1, (run.stdout, run.stderr)
        rows = _rows(run.stdout)
        assert sorted(rows) == [BOX, OTHER]
        assert "refused: its key differs from known_hosts line 1" in rows[BOX]
        run = pingctl("ping", "--all", "-c", "2", "-i", "0.1", "--json", *LO, env=env)
        assert run.code == 1, run.stderr
        reports = {r["server"]["name"] if "server" in r else r["name"]: r for r in run.json()}
        assert reports[OTHER]["received"] == 2
        assert "known_hosts line 1" in reports[BOX]["error"]
    assert len(_known_hosts(tmp_path)) == 1  # the impostor's key was never pinned
