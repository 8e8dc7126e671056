"""Zero-configuration discovery, on loopback and across test hosts in network namespaces.

mDNS is confined to 127.0.0.1 on the machine itself, and to the namespaces' own interfaces.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
import time

import pytest

from tests.support.processes import Watcher, pingctl, wait_for

LO = ("--mdns-interface", "127.0.0.1")


def _discover(*extra: str, prefix=()) -> list[dict]:
    run = pingctl("discover", "--timeout", "1.5", "--json", *extra, prefix=prefix)
    assert run.code == 0, run.stderr
    return run.json()


def test_ping_without_an_address_finds_the_daemon_on_loopback(spawn_daemon):
    daemon = spawn_daemon("--name", "lo-box", *LO, mdns=True)
    run = pingctl("ping", "--name", "lo-box", "-c", "5", "-i", "0", "--json", *LO)
    assert run.code == 0, run.stderr
    report = run.json()
    assert report["received"] == 5
    assert report["server"]["port"] == daemon.port and report["server"]["name"] == "lo-box"


def test_status_without_an_address(spawn_daemon):
    spawn_daemon("--name", "lo-status", *LO, mdns=True)
    run = pingctl("status", "--name", "lo-status", "--json", *LO)
    assert run.code == 0, run.stderr
    assert run.json()["name"] == "lo-status"


def test_discover_lists_it_and_forgets_it_after_it_stops(spawn_daemon):
    daemon = spawn_daemon("--name", "lo-listed", *LO, mdns=True)
    status = pingctl("status", "--server-ip", "127.0.0.1", "--port", str(daemon.port), "--json").json()
    daemon.wait_for_line("announced as")
    entries = {e["name"]: e for e in _discover(*LO)}
    assert "lo-listed" in entries
    entry = entries["lo-listed"]
    assert entry["port"] == daemon.port
    assert entry["node_id"] == status["node_id"]
    assert entry["addresses"] == ["127.0.0.1"]
    assert entry["protocol"] == "1" and entry["version"] == status["version"]
    assert daemon.stop() == 0
    assert "lo-listed" not in {e["name"] for e in _discover(*LO)}


def test_nothing_found_is_one_line_and_exit_2():
    run = pingctl("ping", "--name", "nobody-is-called-this", "--discovery-timeout", "0.5", *LO)
    assert run.code == 2
    assert run.stderr.count("\n") == 1
    assert "no pingd named 'nobody-is-called-this'" in run.stderr and "--server-ip" in run.stderr


def test_mdns_failure_leaves_the_daemon_serving_by_address(spawn_daemon):
    daemon = spawn_daemon("--mdns-interface", "192.0.2.254", mdns=True)  # no such interface here
    daemon.wait_for_line("mDNS announcement failed")
    run = pingctl("ping", "--server-ip", "127.0.0.1", "--port", str(daemon.port), "-c", "1", "--json")
    assert run.code == 0 and run.json()["received"] == 1


# --- across test hosts ------------------------------------------------------------------------


def _start_in(spawn_daemon, host, *extra, name, state_file=None):
    return spawn_daemon(
        "--bind",
        "*",
        "--name",
        name,
        "--mdns-interface",
        host.address,
        *extra,
        mdns=True,
        prefix=host.prefix,
        state_file=state_file,
    )


@pytest.mark.root
def test_two_hosts_ping_with_no_address(network, spawn_daemon, tmp_path):
    server, client = network.add_host(), network.add_host()
    daemon = _start_in(spawn_daemon, server, name="server-a")
    # The client is another machine: only the namespace's own address is used for mDNS.
    started = time.monotonic()
    run = pingctl("ping", "-c", "5", "-i", "0", "--json", "--mdns-interface", client.address, prefix=client.prefix)
    assert run.code == 0, run.stderr
    report = run.json()
    assert (report["sent"], report["received"]) == (5, 5)
    assert report["server"]["address"] == server.address
    assert report["server"]["port"] == daemon.port
    print(f"two hosts: pingctl ping -c 5 with discovery took {time.monotonic() - started:.3f} s")


@pytest.mark.root
def test_three_hosts_name_chooses_and_discover_lists_both(network, spawn_daemon, tmp_path):
    a, b, client = network.add_host(), network.add_host(), network.add_host()
    da = _start_in(spawn_daemon, a, name="alpha", state_file=tmp_path / "a.json")
    db = _start_in(spawn_daemon, b, name="beta", state_file=tmp_path / "b.json")
    da.wait_for_line("announced as")
    db.wait_for_line("announced as")
    ids = {}
    for host, name in ((a, "alpha"), (b, "beta")):
        status = pingctl(
            "status",
            "--server-ip",
            host.address,
            "--port",
            str(da.port if name == "alpha" else db.port),
            "--json",
            prefix=client.prefix,
        )
        ids[name] = status.json()["node_id"]
    mdns = ("--mdns-interface", client.address)
    for name in ("beta", "alpha"):
        run = pingctl("ping", "--name", name, "-c", "3", "-i", "0", "--json", *mdns, prefix=client.prefix)
        assert run.code == 0, run.stderr
        assert run.json()["server"]["node_id"] == ids[name]
    listed = {e["name"]: e for e in _discover(*mdns, prefix=client.prefix)}
    assert set(listed) >= {"alpha", "beta"}
    assert listed["alpha"]["node_id"] == ids["alpha"] and listed["beta"]["node_id"] == ids["beta"]
    assert listed["alpha"]["addresses"] == [a.address]
    # With no --name, the first to answer is used (the note about the others is checked in
    # tests/pingctl/test_connect.py, where which answers first is not up to the network).
    run = pingctl("ping", "-c", "1", "--json", *mdns, prefix=client.prefix)
    assert run.code == 0 and run.json()["server"]["node_id"] in (ids["alpha"], ids["beta"])


@pytest.mark.root
def test_name_clash_is_resolved_by_renaming(network, spawn_daemon, tmp_path):
    a, b, client = network.add_host(), network.add_host(), network.add_host()
    da = _start_in(spawn_daemon, a, name="twin", state_file=tmp_path / "a.json")
    da.wait_for_line("announced as 'twin'")
    db = _start_in(spawn_daemon, b, name="twin", state_file=tmp_path / "b.json")
    db.wait_for_line("is taken on this network; announced as 'twin-2'")
    listed = {e["name"]: e for e in _discover("--mdns-interface", client.address, prefix=client.prefix)}
    assert {"twin", "twin-2"} <= set(listed)
    assert listed["twin"]["addresses"] == [a.address] and listed["twin-2"]["addresses"] == [b.address]
    for name in ("twin", "twin-2"):
        run = pingctl(
            "ping", "--name", name, "-c", "1", "--json", "--mdns-interface", client.address, prefix=client.prefix
        )
        assert run.code == 0 and run.json()["server"]["name"] == name
    assert da.proc.poll() is None and db.proc.poll() is None


# --- wherever pingctl runs: its first question is answered, whatever socket the kernel picks ---
#
# A browser asks again about 1 s after its first question. A window shorter than that lists a
# daemon only if the answer to the first question reached pingctl: the check is on that, not
# on a stopwatch.

FIRST_ANSWER_WINDOW = "0.6"


def _clean(daemon) -> None:
    """pingd's log has no warnings and no tracebacks (the mDNS library's included)."""
    noisy = [line for line in daemon.lines if " WARNING " in line or " ERROR " in line or "Traceback" in line]
    assert not noisy, "\n".join(noisy)


def test_discover_lists_it_in_its_default_window_on_loopback(spawn_daemon):
    daemon = spawn_daemon("--name", "lo-window", *LO, mdns=True)
    daemon.wait_for_line("announced as")
    run = pingctl("discover", "--json", *LO)
    assert run.code == 0, run.stderr
    assert "lo-window" in {e["name"] for e in run.json()}
    run = pingctl("discover", "--timeout", FIRST_ANSWER_WINDOW, "--json", *LO)
    assert "lo-window" in {e["name"] for e in run.json()}


@pytest.mark.root
def test_own_host_with_default_flags(network, spawn_daemon, tmp_path):
    # Several hosts: which socket the kernel hands a unicast reply to is fixed per address
    # pair, so more hosts cover both outcomes.
    hosts = [network.add_host() for _ in range(3)]
    daemons = []
    for i, host in enumerate(hosts):
        daemons.append(
            spawn_daemon(
                "--bind",
                "*",
                "--name",
                f"own-{i}",
                mdns=True,
                prefix=host.prefix,
                state_file=tmp_path / f"{i}.json",
            )
        )
    for daemon in daemons:
        daemon.wait_for_line("announced as")
    for i, host in enumerate(hosts):
        run = pingctl("discover", "--timeout", FIRST_ANSWER_WINDOW, "--json", prefix=host.prefix)
        assert run.code == 0, run.stderr
        assert f"own-{i}" in {e["name"] for e in run.json()}
        run = pingctl(
            "ping",
            "--name",
            f"own-{i}",
            "-c",
            "1",
            "--discovery-timeout",
            FIRST_ANSWER_WINDOW,
            "--json",
            prefix=host.prefix,
        )
        assert run.code == 0, run.stderr
        assert run.json()["server"]["address"] == host.address
    for daemon in daemons:
        _clean(daemon)
        skipped = [line for line in daemon.lines if "mDNS: not using" in line]
        assert all(" INFO " in line for line in skipped)
        assert len(skipped) == len(set(skipped)) <= 3  # one line per address, at most


@pytest.mark.root
def test_ipv6_addresses_are_announced_where_pingd_serves_them(network, spawn_daemon):
    server, client = network.add_host(ipv6=True), network.add_host(ipv6=True)
    daemon = spawn_daemon("--bind", "*", "--name", "six", mdns=True, prefix=server.prefix)
    daemon.wait_for_line("announced as")
    run = pingctl("discover", "--json", prefix=client.prefix)
    assert run.code == 0, run.stderr
    [entry] = [e for e in run.json() if e["name"] == "six"]
    assert entry["addresses"] == [server.address, server.address6]
    run = pingctl(
        "ping", "--server-ip", server.address6, "--port", str(daemon.port), "-c", "1", "--json", prefix=client.prefix
    )
    assert run.code == 0 and run.json()["received"] == 1
    _clean(daemon)


@pytest.mark.root
def test_next_to_avahi_and_seen_by_avahi_browse(network, spawn_daemon, avahi):
    server, client = network.add_host(), network.add_host()
    avahi(server, "avahi-server")
    watcher = avahi(client, "avahi-client")
    browse = subprocess.Popen(
        [*watcher.prefix, "avahi-browse", "--resolve", "--parsable", "_pingd._tcp"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(line.rstrip("\n") for line in browse.stdout), daemon=True)
    reader.start()
    try:
        daemon = spawn_daemon("--bind", "*", "--name", "beside-avahi", mdns=True, prefix=server.prefix)
        status = pingctl(
            "status", "--server-ip", server.address, "--port", str(daemon.port), "--json", prefix=client.prefix
        ).json()
        resolved = wait_for(
            lambda: next((line for line in lines if line.startswith("=;") and ";beside-avahi;" in line), None),
            10,
            "avahi-browse to resolve pingd",
        )
        fields = resolved.split(";")
        assert fields[4] == "_pingd._tcp" and fields[7] == server.address and fields[8] == str(daemon.port)
        txt = dict(item.strip('"').split("=", 1) for item in fields[9].split(" "))
        assert txt == {"txtvers": "1", "pv": "1", "ver": status["version"], "id": status["node_id"]}
        daemon.wait_for_line("announced as")
        for host in (client, server):
            run = pingctl("discover", "--timeout", FIRST_ANSWER_WINDOW, "--json", prefix=host.prefix)
            assert "beside-avahi" in {e["name"] for e in run.json()}, run.stderr
            run = pingctl("ping", "--name", "beside-avahi", "-c", "1", "--json", prefix=host.prefix)
            assert run.code == 0 and run.json()["server"]["node_id"] == status["node_id"], run.stderr
        assert daemon.stop() == 0  # goodbye packets: the independent browser drops it
        wait_for(
            lambda: any(line.startswith("-;") and ";beside-avahi;" in line for line in lines),
            5,
            "avahi-browse to drop pingd after its goodbye",
        )
        _clean(daemon)
    finally:
        browse.kill()
        browse.wait(10)


def test_status_all_shows_every_daemon_and_which_gave_no_answer(spawn_daemon, tmp_path):
    from tests.support.processes import base_env

    a = spawn_daemon("--name", "all-a", *LO, mdns=True, state_file=tmp_path / "a.json")
    b = spawn_daemon("--name", "all-b", *LO, mdns=True, state_file=tmp_path / "b.json")
    for daemon in (a, b):
        daemon.wait_for_line("announced as")
    pingctl("ping", "--server-ip", "127.0.0.1", "--port", str(a.port), "-c", "2", "-i", "0")
    run = pingctl("status", "--all", "--json", *LO)
    assert run.code == 0, run.stderr
    listed = {d["name"]: d for d in run.json()}
    assert listed["all-a"]["count"] == 2 and listed["all-b"]["count"] == 0
    assert listed["all-a"]["port"] == a.port and listed["all-b"]["port"] == b.port
    table = pingctl("status", "--all", *LO)
    assert table.code == 0 and table.stdout.splitlines()[0].split()[:3] == ["NAME", "ADDRESS", "COUNT"]
    assert any(line.startswith("all-a ") and f"127.0.0.1:{a.port}" in line for line in table.stdout.splitlines())
    # An encrypted daemon that admits nobody: listed, with why it gave no status, and exit 1.
    nobody = tmp_path / "nobody"
    nobody.mkdir()
    c = spawn_daemon("--name", "all-c", "--curve", "--allow-clients", str(nobody), *LO, mdns=True,
                     state_file=tmp_path / "c" / "c.json")  # fmt: skip
    c.wait_for_line("announced as")
    env = base_env(PINGCTL_CONFIG_DIR=str(tmp_path / "client"))
    run = pingctl("status", "--all", "--json", *LO, env=env)
    assert run.code == 1, run.stderr
    refused = next(d for d in run.json() if d["name"] == "all-c")
    assert "refused this client's key" in refused["error"]
    assert {"all-a", "all-b"} <= {d["name"] for d in run.json() if "error" not in d}


def test_status_all_takes_no_address():
    run = pingctl("status", "--all", "--server-ip", "127.0.0.1")
    assert run.code == 2 and "--all asks every daemon" in run.stderr


# --- ping --all: a session per daemon, side by side -----------------------------------------


def _count(daemon) -> int:
    run = pingctl("status", "--server-ip", "127.0.0.1", "--port", str(daemon.port), "--json")
    assert run.code == 0, run.stderr
    return run.json()["count"]


def test_ping_all_runs_a_session_per_daemon_and_ctrl_c_prints_each(spawn_daemon, tmp_path):
    from tests.support.processes import pingctl_background

    a = spawn_daemon("--name", "every-a", *LO, mdns=True, state_file=tmp_path / "a.json")
    b = spawn_daemon("--name", "every-b", *LO, mdns=True, state_file=tmp_path / "b.json")
    for daemon in (a, b):
        daemon.wait_for_line("announced as")
    session = pingctl_background("ping", "--all", "-c", "0", "-i", "0.05", *LO)
    try:
        wait_for(lambda: _count(a) >= 3 and _count(b) >= 3, 20, "both daemons to be pinged")
        assert session.lines == []  # piped: nothing until the end, as fping -c
        session.proc.send_signal(signal.SIGINT)
        assert session.wait(20) == 0
    finally:
        session.kill()
    by_name = {line.split()[0]: line for line in session.lines}
    assert {"every-a", "every-b"} <= set(by_name), session.lines
    for name, daemon in (("every-a", a), ("every-b", b)):
        line = by_name[name]
        # Columns align to the longest name pinged (other daemons on this loopback included).
        assert re.search(rf"\(127\.0\.0\.1:{daemon.port}\)\s+: xmt/rcv/%loss = ", line), line
        sent, received = map(int, line.split("= ")[1].split("/")[:2])
        assert sent >= 3 and received >= sent - 1  # a ping in flight at Ctrl-C is lost
        # The last pong's count; the daemon may also have counted the ping in flight.
        last = int(line.rsplit("count ", 1)[1])
        assert _count(daemon) - (sent - received) <= last <= _count(daemon)


def test_repeated_name_pings_just_those_and_one_not_found_is_exit_1(spawn_daemon, tmp_path):
    a = spawn_daemon("--name", "named-a", *LO, mdns=True, state_file=tmp_path / "a.json")
    b = spawn_daemon("--name", "named-b", *LO, mdns=True, state_file=tmp_path / "b.json")
    for daemon in (a, b):
        daemon.wait_for_line("announced as")
    run = pingctl("ping", "--name", "NAMED-A", "--name", "not-here", "-c", "2", "-i", "0.05", "--json", *LO)
    assert run.code == 1, run.stderr
    ping_a, missing = run.json()
    assert ping_a["server"]["name"] == "named-a" and ping_a["received"] == 2
    assert missing == {"name": "not-here", "address": "?", "error": "not found within 1 s"}
    assert (_count(a), _count(b)) == (2, 0)


def test_ping_all_with_none_found_or_an_address_is_exit_2():
    run = pingctl("ping", "--name", "nobody-1", "--name", "nobody-2", *LO)
    assert run.code == 2 and run.stderr.count("\n") == 1
    assert "no pingd named 'nobody-1', 'nobody-2' found within 1 s" in run.stderr
    run = pingctl("ping", "--all", "--server-ip", "127.0.0.1", "--histogram")
    assert run.code == 2
    assert (
        run.stderr
        == "pingctl: --all and several --name ping the daemons discovery finds: drop --server-ip, --histogram\n"
    )


# --- discover --watch: daemons as they come and go --------------------------------------------


def test_discover_watch_reports_a_daemon_coming_and_going_as_json(spawn_daemon):
    watcher = Watcher("--json", *LO)
    try:
        daemon = spawn_daemon("--name", "watched", *LO, mdns=True)
        _, added = watcher.first(lambda line: '"watched"' in line, 10, "the daemon to be added")
        event = json.loads(added)
        assert event["event"] == "added" and event["port"] == daemon.port and event["addresses"] == ["127.0.0.1"]
        assert daemon.stop() == 0
        _, removed = watcher.first(lambda line: '"removed"' in line, 5, "the daemon to be removed")
        assert json.loads(removed) == {"event": "removed", "name": "watched"}
        assert watcher.stop() == 0
    finally:
        watcher.kill()


@pytest.mark.root
def test_discover_watch_drops_a_daemon_within_a_second_of_its_goodbye(network, spawn_daemon):
    server, client = network.add_host(), network.add_host()
    watcher = Watcher(prefix=client.prefix)  # default flags: every interface of the client host
    try:
        daemon = spawn_daemon("--bind", "*", "--name", "leaving", mdns=True, prefix=server.prefix)
        _, added = watcher.first(lambda line: line.startswith("+ leaving "), 10, "the daemon to be added")
        assert f"{server.address}:{daemon.port}" in added
        import signal

        terminated = time.monotonic()
        daemon.signal(signal.SIGTERM)  # pingd says goodbye on its way out
        gone_at, line = watcher.first(lambda line: line == "- leaving", 5, "the daemon to be removed")
        print(f"discover --watch: gone {gone_at - terminated:.3f} s after SIGTERM")
        assert gone_at - terminated <= 1.0
        assert daemon.wait() == 0
        assert watcher.stop() == 0
    finally:
        watcher.kill()


def test_discover_watch_drops_a_daemon_whose_records_expire_and_keeps_a_live_one():
    """No goodbye (SIGKILL): the daemon goes when its SRV record expires. Records that live
    2 s here (pingd's live 120 s): the watcher's re-asks keep a live one listed well past
    that, and a dead one is gone within its TTL of the last answer."""
    import sys

    from tests.support.processes import base_env

    ttl = 2
    watcher = Watcher(*LO)
    announcer = subprocess.Popen(
        [sys.executable, "-m", "tests.support.announcer", "expiring", "127.0.0.1", str(ttl)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True, env=base_env(),
    )  # fmt: skip
    try:
        added_at, _ = watcher.first(lambda line: line.startswith("+ expiring "), 10, "the announcement to be seen")
        # Three lifetimes on, it is still listed: re-asked, answered, refreshed.
        wait_for(lambda: time.monotonic() >= added_at + 3 * ttl, 4 * ttl, "three record lifetimes")
        assert not any(line == "- expiring" for _, line in watcher.lines)
        announcer.kill()
        killed = time.monotonic()
        gone_at, _ = watcher.first(lambda line: line == "- expiring", 5 * ttl, "the expired daemon to be dropped")
        print(f"discover --watch: dropped {gone_at - killed:.2f} s after SIGKILL (records live {ttl} s)")
        assert gone_at - killed <= ttl + 1.0
        assert watcher.stop() == 0
    finally:
        announcer.kill()
        announcer.wait(10)
        watcher.kill()
