"""CurveZMQ: encrypted daemons, pinned and trusted-on-first-use server keys, allow-listed clients."""

from __future__ import annotations

import re
import stat

import pytest
import zmq

from pingd.shared import keys, protocol
from tests.support.processes import base_env, pingctl

LO = ("--mdns-interface", "127.0.0.1")


@pytest.fixture
def client_env(tmp_path):
    """pingctl with a config directory (its key pair, known_hosts) of this test's own."""
    return base_env(PINGCTL_CONFIG_DIR=str(tmp_path / "pingctl"))


def _server_key(state_dir) -> str:
    public, secret = keys.read_certificate(state_dir / "pingd-curve.key_secret")
    assert public and secret
    return public


def _addr(daemon) -> tuple[str, ...]:
    return ("--server-ip", "127.0.0.1", "--port", str(daemon.port))


def test_key_pair_is_made_once_with_a_private_secret(spawn_daemon, state_dir):
    daemon = spawn_daemon("--curve")
    secret_file = state_dir / "pingd-curve.key_secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    key = _server_key(state_dir)
    assert any(f"public key {key}" in line for line in daemon.lines)
    _, secret = keys.read_certificate(secret_file)
    assert secret not in daemon.output  # never logged
    assert daemon.stop() == 0
    spawn_daemon("--curve")
    assert _server_key(state_dir) == key


def test_plain_client_gets_no_pong_and_the_count_does_not_move(spawn_daemon, state_dir, client_env):
    daemon = spawn_daemon("--curve")
    run = pingctl("ping", *_addr(daemon), "-c", "1", env=client_env)
    assert run.code == 2 and "requires encryption (give --server-key)" in run.stderr, run.stderr
    context = zmq.Context()
    sock = context.socket(zmq.DEALER)
    sock.linger = 0
    sock.connect(f"tcp://127.0.0.1:{daemon.port}")
    sock.send(protocol.encode_ping(1))
    assert not sock.poll(500)
    sock.close(0)
    context.term()
    key = _server_key(state_dir)
    status = pingctl("status", *_addr(daemon), "--server-key", key, "--json", env=client_env)
    assert status.code == 0 and status.json()["count"] == 0
    assert status.json()["security"] == "curve" and status.json()["curve_public_key"] == key


def test_right_key_works_and_wrong_key_is_refused(spawn_daemon, state_dir, client_env):
    daemon = spawn_daemon("--curve")
    key = _server_key(state_dir)
    run = pingctl("ping", *_addr(daemon), "-c", "3", "-i", "0", "--server-key", key, "--json", env=client_env)
    assert run.code == 0 and run.json()["received"] == 3
    wrong = zmq.curve_keypair()[0].decode()
    run = pingctl("ping", *_addr(daemon), "-c", "1", "--server-key", wrong, env=client_env)
    assert run.code == 2 and "encrypted handshake" in run.stderr and run.stderr.count("\n") == 1
    run = pingctl("ping", *_addr(daemon), "--server-key", "too-short", env=client_env)
    assert run.code == 2 and "40-character" in run.stderr


def test_discovered_key_is_trusted_on_first_use_and_a_changed_key_refused(
    spawn_daemon, state_dir, client_env, tmp_path
):
    daemon = spawn_daemon("--curve", "--name", "curvy", *LO, mdns=True)
    run = pingctl("ping", "--name", "curvy", "-c", "2", "-i", "0", "--json", *LO, env=client_env)
    assert run.code == 0, run.stderr
    assert run.json()["received"] == 2
    assert "trusting pingd 'curvy'" in run.stderr
    known = (tmp_path / "pingctl" / "known_hosts").read_text()
    assert _server_key(state_dir) in known
    # Again: known and unchanged, so nothing to say.
    run = pingctl("ping", "--name", "curvy", "-c", "1", "--json", *LO, env=client_env)
    assert run.code == 0 and "trusting" not in run.stderr
    # The same daemon (node id) with a new key pair: refused, loudly.
    assert daemon.stop() == 0
    (state_dir / "pingd-curve.key_secret").unlink()
    (state_dir / "pingd-curve.key").unlink()
    spawn_daemon("--curve", "--name", "curvy", *LO, mdns=True)
    run = pingctl("ping", "--name", "curvy", "-c", "1", *LO, "--discovery-timeout", "5", env=client_env)
    assert run.code == 2
    assert "HAS CHANGED" in run.stderr and "known_hosts line 1" in run.stderr and run.stderr.count("\n") == 1


def test_allow_list_admits_listed_clients_only(spawn_daemon, state_dir, tmp_path):
    listed = base_env(PINGCTL_CONFIG_DIR=str(tmp_path / "alice"))
    unlisted = base_env(PINGCTL_CONFIG_DIR=str(tmp_path / "mallory"))
    allow = tmp_path / "clients"
    allow.mkdir()
    shown = pingctl("keys", "show", env=listed)
    assert shown.code == 0 and keys.is_key(shown.stdout.strip())
    (allow / "alice.key").write_text(pingctl("keys", "show", "--cert", env=listed).stdout)
    daemon = spawn_daemon("--curve", "--allow-clients", str(allow))
    key = _server_key(state_dir)
    run = pingctl("ping", *_addr(daemon), "-c", "2", "-i", "0", "--server-key", key, "--json", env=listed)
    assert run.code == 0 and run.json()["received"] == 2
    run = pingctl("ping", *_addr(daemon), "-c", "1", "--server-key", key, env=unlisted)
    assert run.code == 2 and "refused this client's key" in run.stderr, run.stderr
    mallory = pingctl("keys", "show", env=unlisted).stdout.strip()
    daemon.wait_for_line(re.escape(f"refused a client whose key is not on the allow-list: {mallory}"))
    status = pingctl("status", *_addr(daemon), "--server-key", key, "--json", env=listed).json()
    assert status["count"] == 2 and status["security"] == "curve+allow-list"


def test_allow_list_without_curve_is_a_settings_error(spawn_daemon, tmp_path):
    daemon = spawn_daemon("--allow-clients", str(tmp_path), wait_ready=False)
    assert daemon.wait() == 2
    assert "allow_clients needs curve" in daemon.output
