"""Beyond one LAN: pingd registers in a real DNS server (BIND) and pingctl finds it from another
subnet, by --domain and with no flag at all (the network's browse domain).

The world (``tests.support.dnsworld``) is built once for the module: S serves, C browses, D
runs BIND; the subnets are joined by a router no multicast crosses, so mDNS cannot find
anything from C. Each test stops the daemons it started.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import time
from pathlib import Path

import pytest

from pingd.announce import registrar
from tests.conftest import require
from tests.support import dnsworld
from tests.support.dnsworld import DNS_ADDRESS, ZONE, DnsWorld
from tests.support.processes import Daemon, Watcher, base_env, pingctl, wait_for

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def world():
    require(dnsworld.available())
    with DnsWorld() as w:
        yield w


@pytest.fixture
def registered(world: DnsWorld, tmp_path: Path):
    """Start pingd on S registering in example.test; every daemon is stopped at teardown."""
    started: list[Daemon] = []
    names: set[str] = set()

    def start(name: str, *extra: str, state: str | None = None, key_file: Path | None = None) -> Daemon:
        args = [
            "--name", name, "--state-file", str(tmp_path / (state or name) / "state.json"),
            "--dns-domain", ZONE, "--dns-server", DNS_ADDRESS, "--dns-key", str(key_file or world.key_file), *extra,
        ]  # fmt: skip
        daemon = Daemon(args=args, env=base_env(), prefix=world.server.prefix)
        started.append(daemon)
        names.add(name)
        return daemon.start()

    yield start
    for daemon in started:  # SIGTERM, so each removes its records and the next test starts clean
        try:
            daemon.stop()
        except Exception:
            daemon.kill()
    for name in names:  # and what a SIGKILLed one left
        world.forget(name)


def client_env() -> dict[str, str]:
    """pingctl on C as a user there runs it: with the host's resolver and its search domain."""
    env = base_env()
    env.pop("LOCALDOMAIN", None)
    return env


def on_client(world: DnsWorld, *args: str):
    return pingctl(*args, prefix=world.client.prefix, env=client_env(), timeout=30)


def test_registers_and_is_pinged_by_domain_from_another_subnet(world, registered):
    daemon = registered("box")
    daemon.wait_for_line(r"DNS: registered 'box' in example\.test \(10\.240\.1\.2, port 7464")
    srv = world.lookup(f"box._pingd._tcp.{ZONE}", "SRV")
    assert len(srv) == 1 and srv[0].startswith("0 0 7464 pingd-")
    assert world.lookup(f"_pingd._tcp.{ZONE}", "PTR") == [f"box._pingd._tcp.{ZONE}."]

    listed = on_client(world, "discover", "--domain", ZONE, "--json")
    assert listed.code == 0, listed.stderr
    [found] = listed.json()
    assert (found["name"], found["addresses"], found["port"], found["domain"]) == ("box", ["10.240.1.2"], 7464, ZONE)

    run = on_client(world, "ping", "--domain", ZONE, "--count", "3", "--interval", "0.1", "--json")
    assert run.code == 0, run.stderr
    report = run.json()
    assert (report["sent"], report["received"], report["server"]["address"]) == (3, 3, "10.240.1.2")

    # mDNS does not cross the router: without DNS, C finds nothing.
    silent = pingctl("discover", "--json", prefix=world.client.prefix, env=base_env(LOCALDOMAIN=""))
    assert silent.code == 0 and silent.json() == []


def test_no_flag_finds_it_through_the_networks_browse_domain(world, registered):
    daemon = registered("plain")
    daemon.wait_for_line("DNS: registered 'plain'")
    run = on_client(world, "ping", "--count", "2", "--interval", "0.1")
    assert run.code == 0, run.stderr
    assert "2 received" in run.stdout and "10.240.1.2" in run.stdout
    status = on_client(world, "status", "--json")
    assert status.code == 0, status.stderr
    assert "DNS: registered as 'plain' in example.test" in status.json()["announced"]
    listed = on_client(world, "discover", "--json")
    assert [d["name"] for d in listed.json()] == ["plain"]


def test_sigterm_removes_the_records(world, registered):
    daemon = registered("leaving")
    daemon.wait_for_line("DNS: registered 'leaving'")
    host = world.lookup(f"leaving._pingd._tcp.{ZONE}", "SRV")[0].split()[-1]
    assert world.lookup(host, "A") == ["10.240.1.2"]
    assert daemon.stop() == 0
    assert any("DNS: removed 'leaving' from example.test" in line for line in daemon.lines)
    assert world.lookup(f"leaving._pingd._tcp.{ZONE}", "SRV") == []
    assert world.lookup(host, "A") == []
    assert f"leaving._pingd._tcp.{ZONE}." not in world.lookup(f"_pingd._tcp.{ZONE}", "PTR")


def test_sigkill_leaves_the_records_and_pingctl_skips_the_dead_daemon(world, registered):
    ghost = registered("ghost", "--port", "7465")
    ghost.wait_for_line("DNS: registered 'ghost'")
    live = registered("alive")
    live.wait_for_line("DNS: registered 'alive'")
    ghost.kill()
    assert world.lookup(f"ghost._pingd._tcp.{ZONE}", "SRV"), "SIGKILL cannot remove records"

    named = on_client(world, "ping", "--domain", ZONE, "--name", "ghost", "--count", "1")
    assert named.code == 2
    assert "'ghost' is registered in example.test but did not answer" in named.stderr
    assert len(named.stderr.strip().splitlines()) == 1 and "Traceback" not in named.stderr
    assert named.seconds < 1.0 + 3.0  # the 1 s timeout, and pingctl's own start

    either = on_client(world, "ping", "--domain", ZONE, "--count", "2", "--interval", "0.1")
    assert either.code == 0, either.stderr
    # The host is up, so the dead daemon's port refuses at once; the note says so.
    assert "skipped 'ghost': registered in example.test, but cannot reach pingd at 10.240.1.2:7465" in either.stderr
    assert "PING alive" in either.stdout and "2 received" in either.stdout

    # Restarted with its state (same node id), it takes its own name back, not ghost-2.
    again = registered("ghost", "--port", "7465")
    again.wait_for_line("DNS: registered 'ghost' in")
    assert not any("ghost-2" in line for line in again.lines)


def test_a_name_held_by_another_daemon_is_not_taken_over(world, registered):
    first = registered("twin", "--port", "7466", state="twin-a")
    first.wait_for_line("DNS: registered 'twin'")
    second = registered("twin", "--port", "7467", state="twin-b")
    second.wait_for_line(r"DNS: 'twin' is taken in example\.test; registered as 'twin-2'")
    ports = {name: world.lookup(f"{name}._pingd._tcp.{ZONE}", "SRV")[0].split()[2] for name in ("twin", "twin-2")}
    assert ports == {"twin": "7466", "twin-2": "7467"}


def test_wrong_tsig_key_is_one_clear_line_and_pingd_serves_on(world, registered, tmp_path):
    text = world.key_file.read_text()
    secret = text.split('secret "')[1].split('"')[0]
    wrong = tmp_path / "wrong.key"
    wrong.write_text(text.replace(secret, "A" * (len(secret) - 1) + "="))
    daemon = registered("badkey", "--port", "7468", key_file=wrong)
    line = daemon.wait_for_line("DNS: not registered")
    assert "BADSIG" in line and f"{wrong}" in line and "serving on" in line
    assert sum(bool(re.search(r"\bDNS: ", line)) for line in daemon.lines) == 1  # retries repeat nothing
    status = on_client(world, "status", "--server-ip", "10.240.1.2", "--port", "7468", "--json")
    assert status.code == 0, status.stderr
    assert "DNS: not registered in example.test (" in status.json()["announced"]
    assert world.lookup(f"badkey._pingd._tcp.{ZONE}", "SRV") == []


def test_print_dns_records_are_the_records_registered(world, registered, tmp_path):
    daemon = registered("printed", "--port", "7469", "--bind", "10.240.1.2")
    daemon.wait_for_line("DNS: registered 'printed'")
    run = world.server.run(
        sys.executable, "-m", "pingd", "--print-dns-records", "--name", "printed", "--port", "7469",
        "--bind", "10.240.1.2", "--dns-domain", ZONE, "--state-file", str(tmp_path / "printed" / "state.json"),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    lines = [line.split() for line in run.stdout.splitlines() if not line.startswith(";")]
    assert {line[3] for line in lines} == {"PTR", "SRV", "TXT", "A"}
    for owner, ttl, klass, kind, *data in lines:
        assert (ttl, klass) == ("60", "IN")
        assert " ".join(data) in world.lookup(owner, kind), (owner, kind)


def test_every_registered_daemon_at_once(world, registered):
    for name, port in (("rack-a", "7471"), ("rack-b", "7472")):
        registered(name, "--port", port).wait_for_line(f"DNS: registered '{name}'")
    run = on_client(world, "ping", "--all", "--domain", ZONE, "--count", "2", "--interval", "0.1")
    assert run.code == 0, run.stderr
    lines = sorted(run.stdout.splitlines())
    assert [line.split()[0] for line in lines] == ["rack-a", "rack-b"]
    assert all("xmt/rcv/%loss = 2/2/0%" in line for line in lines)
    status = on_client(world, "status", "--all", "--domain", ZONE, "--json")
    assert status.code == 0, status.stderr
    assert sorted(d["name"] for d in status.json()) == ["rack-a", "rack-b"]


def test_discover_watch_follows_a_domain(world, registered):
    watcher = Watcher("--domain", ZONE, prefix=world.client.prefix)
    try:
        daemon = registered("watched", "--port", "7473")
        daemon.wait_for_line("DNS: registered 'watched'")
        watcher.first(lambda line: line.startswith("+ watched 10.240.1.2:7473 "), 15, "the daemon to be listed")
        assert daemon.stop() == 0
        watcher.first(lambda line: line == "- watched", 15, "the daemon to leave the list")
        assert watcher.stop() == 0
    finally:
        watcher.kill()


@contextlib.contextmanager
def named_silenced(world: DnsWorld):
    """named stopped (SIGSTOP) for the block: the server is there, and answers nothing."""
    pid = int((world.directory / "named.pid").read_text())
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def test_a_silent_dns_server_holds_up_a_stop_only_as_long_as_the_goodbye(world, registered):
    """Holds off, in the real program: a DNS server gone silent when pingd stops. The goodbye
    (the removal) waits its one timeout and no longer; it cannot be sent, so it says so in one
    line. (Calling off an exchange in progress is tested in tests/pingd/announce/test_registrar.py.)"""
    daemon = registered("mute", "--port", "7474", "--no-mdns")
    daemon.wait_for_line("DNS: registered 'mute'")
    with named_silenced(world):
        began = time.monotonic()
        assert daemon.stop() == 0
        took = time.monotonic() - began
    assert took < registrar.JOIN + registrar.TIMEOUT + 1.0, f"pingd took {took:.1f} s to stop"
    [line] = [line for line in daemon.lines if "DNS: could not remove" in line]
    assert line.endswith(f"DNS: could not remove 'mute' from {ZONE}: no answer from {DNS_ADDRESS}:53 within 2 s")


def test_mesh_daemons_in_one_domain_probe_each_other_across_subnets(world, registered, tmp_path):
    """No multicast crosses the router: each finds the other only in the domain it registers in."""
    server = registered("mesh-s", "--mesh", "--mesh-interval", "0.5")
    args = [
        "--name", "mesh-c", "--state-file", str(tmp_path / "c" / "state.json"), "--mesh", "--mesh-interval", "0.5",
        "--dns-domain", ZONE, "--dns-server", DNS_ADDRESS, "--dns-key", str(world.key_file),
    ]  # fmt: skip
    client = Daemon(args=args, env=base_env(), prefix=world.client.prefix).start()
    try:
        for daemon in (server, client):
            daemon.wait_for_line("DNS: registered")

        def probed_both_ways() -> bool:
            run = pingctl("mesh", "--json", "--domain", ZONE, prefix=world.client.prefix, env=client_env())
            assert run.code == 0, run.stderr
            cells = {(c["from"], c["to"]): c for c in run.json()["cells"]}
            return all(
                cells.get(pair, {}).get("probes", 0) >= 2 for pair in (("mesh-s", "mesh-c"), ("mesh-c", "mesh-s"))
            )

        wait_for(probed_both_ways, timeout=30, interval=0.5, what="each daemon probing the other through DNS")
    finally:
        client.stop()
        world.forget("mesh-c")
