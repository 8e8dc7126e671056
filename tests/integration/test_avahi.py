"""pingd on a host that runs avahi-daemon (Debian's, with a system bus of its own, in a test
host): published through Avahi, with no mDNS socket of pingd's own, the same records as its
own responder publishes, and Avahi's life cycle followed — renames, a restart, an absence,
pingd's own stop — as another host's avahi-browse and pingctl see it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest

from tests.support.processes import Daemon, Watcher, base_env, pingctl, wait_for

pytestmark = pytest.mark.root

MDNS_PORT = 5353


def mdns_sockets(pid: int) -> list[str]:
    """The UDP sockets of process ``pid`` bound to port 5353 (from /proc, as the process sees
    its network namespace): 'address:port' of each."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    bound = []
    for table in ("udp", "udp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            address, port = fields[1].rsplit(":", 1)
            if int(port, 16) == MDNS_PORT and fields[9] in inodes:
                bound.append(f"{address}:{MDNS_PORT}")
    return bound


def start_pingd(host_avahi, state: Path, *extra: str) -> Daemon:
    args = ["--bind", "*", "--port", "0", "--state-file", str(state), *extra]
    return Daemon(args=args, env=host_avahi.env(), prefix=host_avahi.prefix).start()


@contextmanager
def browsing(watcher) -> Iterator[list[tuple[float, str]]]:
    """avahi-browse -rp _pingd._tcp on the watcher's host: each line with when it came."""
    browse = subprocess.Popen(
        [*watcher.prefix, "avahi-browse", "--resolve", "--parsable", "_pingd._tcp"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: list[tuple[float, str]] = []
    reader = threading.Thread(
        target=lambda: lines.extend((time.monotonic(), line.rstrip("\n")) for line in browse.stdout), daemon=True
    )
    reader.start()
    try:
        yield lines
    finally:
        browse.kill()
        browse.wait(10)


def resolved(lines: list[tuple[float, str]], name: str) -> set[str]:
    """The resolved entries ('=' lines) avahi-browse printed for instance ``name``."""
    return {line for _, line in lines if line.startswith("=;") and line.split(";")[3] == name}


@pytest.fixture
def two_hosts(network, avahi):
    """A server host and a watcher host on one link, avahi-daemon (IPv4 and IPv6) on both."""
    server, client = network.add_host(ipv6=True), network.add_host(ipv6=True)
    return avahi(server, "avahi-server", ipv6=True), avahi(client, "avahi-client", ipv6=True)


@pytest.fixture
def daemons():
    started: list[Daemon] = []
    yield started
    for d in started:
        d.kill()


def test_auto_publishes_through_avahi_and_pingd_opens_no_mdns_socket(two_hosts, daemons, tmp_path):
    server, watcher = two_hosts
    daemons.append(d := start_pingd(server, tmp_path / "a.json", "--name", "through-avahi"))
    d.wait_for_line(r"mDNS: announcing through avahi-daemon \(D-Bus\): avahi-daemon is on the system bus")
    d.wait_for_line(r"announced as 'through-avahi' through avahi-daemon")
    assert mdns_sockets(d.proc.pid) == []
    status = pingctl("ping", "--name", "through-avahi", "-c", "1", "--json", prefix=watcher.prefix, env=watcher.env())
    assert status.code == 0, status.stderr
    # The check can fail: the same daemon with its own responder holds port 5353.
    daemons.append(own := start_pingd(server, tmp_path / "b.json", "--name", "own", "--mdns-backend", "zeroconf"))
    own.wait_for_line("mDNS: announcing with its own responder")
    wait_for(lambda: mdns_sockets(own.proc.pid), 10, "pingd's own responder to bind 5353")


def test_another_hosts_avahi_browse_sees_the_records_pingds_own_responder_publishes(two_hosts, daemons, tmp_path):
    server, watcher = two_hosts
    state = tmp_path / "state.json"
    seen = {}
    with browsing(watcher) as lines:
        for backend in ("avahi", "zeroconf"):
            # The same daemon (node id, port, key) each time: only the responder differs.
            d = start_pingd(server, state, "--name", "same", "--mdns-backend", backend, "--curve", "--port", "7611")
            daemons.append(d)
            d.wait_for_line("announced as 'same'")
            # An entry for each address family of the link.
            wait_for(lambda: len(resolved(lines, "same")) >= 2, 10, f"avahi-browse to resolve pingd ({backend})")
            host = next(iter(resolved(lines, "same"))).split(";")[6]
            addresses = {family: resolve_host(watcher, host, family) for family in ("-4", "-6")}
            seen[backend] = (resolved(lines, "same"), addresses)
            assert d.stop() == 0
            wait_for(lambda: lines and lines[-1][1].startswith("-;"), 10, "the entry to be dropped")
            lines.clear()
    assert seen["avahi"] == seen["zeroconf"]
    entries, addresses = seen["avahi"]
    fields = [line.split(";") for line in entries]
    assert {f[2] for f in fields} == {"IPv4", "IPv6"}
    assert {f[8] for f in fields} == {"7611"} and all('"ck=' in f[9] and '"id=' in f[9] for f in fields)
    assert addresses == {"-4": server.host.address, "-6": server.host.address6}


def resolve_host(watcher, host: str, family: str) -> str:
    """The address avahi-resolve finds for ``host`` (-4 or -6) from the watcher's host."""
    run = subprocess.run(
        [*watcher.prefix, "avahi-resolve", "--name", family, host], capture_output=True, text=True, timeout=30
    )
    assert run.returncode == 0 and run.stdout.startswith(host), run.stdout + run.stderr
    return run.stdout.split()[1]


def test_a_pingctl_started_with_the_daemon_finds_it_once_avahi_has_published(two_hosts, daemons, tmp_path):
    """Avahi answers for the pointer while it still probes the instance's own records: pingctl
    asks for those again until they come, instead of waiting for an event that never comes."""
    server, watcher = two_hosts
    daemons.append(start_pingd(server, tmp_path / "s.json", "--name", "just-started"))  # listening: READY
    run = pingctl("ping", "--name", "just-started", "-c", "1", "--json", prefix=watcher.prefix, env=watcher.env())
    assert run.code == 0 and run.json()["received"] == 1, run.stderr


def test_a_name_taken_here_or_on_the_link_is_renamed_once(two_hosts, daemons, tmp_path):
    server, watcher = two_hosts
    daemons.append(first := start_pingd(server, tmp_path / "1.json", "--name", "twin"))
    first.wait_for_line("announced as 'twin' through avahi-daemon")
    daemons.append(here := start_pingd(server, tmp_path / "2.json", "--name", "twin"))
    here.wait_for_line("announced as 'twin-2'")
    daemons.append(there := start_pingd(watcher, tmp_path / "3.json", "--name", "twin"))
    there.wait_for_line("announced as 'twin-3'")
    for d, name in ((here, "twin-2"), (there, "twin-3")):
        assert sum("is taken on this network" in line for line in d.lines) == 1, d.output
        run = pingctl("status", "--name", name, "--json", prefix=watcher.prefix, env=watcher.env())
        assert run.code == 0 and run.json()["name"] == name, run.stderr


def test_avahi_restarted_or_away_costs_no_ping_and_pingd_publishes_again(two_hosts, daemons, tmp_path):
    server, watcher = two_hosts
    daemons.append(d := start_pingd(server, tmp_path / "s.json", "--name", "steady"))
    d.wait_for_line("announced as 'steady' through avahi-daemon")
    target = ("--server-ip", server.host.address, "--port", str(d.port))
    session = subprocess.Popen(
        [*watcher.prefix, sys.executable, "-m", "pingctl", "ping", *target, "-c", "400", "-i", "0.02", "--json"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=watcher.env(),
    )  # fmt: skip
    try:
        server.stop_avahi()  # away: said once, serving by address
        d.wait_for_line(r"avahi-daemon is not running; serving by address")
        status = pingctl("status", *target, "--json", prefix=watcher.prefix).json()
        assert "not announced (avahi-daemon is not running" in status["announced"]
        appeared = name_owner_appears(server)
        server.start_avahi()
        owner_at = appeared()
        line = wait_for(lambda: _announced_after(d, 1), 10, "pingd to publish again")
        assert _log_time(line) - owner_at <= 2.0, (line, owner_at)
        out, err = session.communicate(timeout=60)
    finally:
        session.kill()
    report = __import__("json").loads(out)
    assert session.returncode == 0 and report["lost"] == 0 and report["received"] == 400, err
    assert sum("avahi-daemon is not running" in line for line in d.lines) == 1, d.output


def name_owner_appears(host_avahi):
    """Start watching the test host's bus for Avahi's name; the returned call waits for it to
    get an owner and gives the wall-clock time it did (the clock pingd's log lines use)."""
    code = (
        "import sys, time\n"
        "from jeepney import MatchRule\n"
        "from jeepney.bus_messages import message_bus\n"
        "from jeepney.io.blocking import open_dbus_connection\n"
        "c = open_dbus_connection('SYSTEM')\n"
        "rule = MatchRule(type='signal', interface='org.freedesktop.DBus', member='NameOwnerChanged')\n"
        "rule.add_arg_condition(0, 'org.freedesktop.Avahi')\n"
        "c.send_and_get_reply(message_bus.AddMatch(rule))\n"
        "print('watching', flush=True)\n"
        "with c.filter(rule) as q:\n"
        "    while True:\n"
        "        m = c.recv_until_filtered(q, timeout=30)\n"
        "        if m.body[2]:\n"
        "            print(time.time(), flush=True)\n"
        "            break\n"
    )
    proc = subprocess.Popen(
        [*host_avahi.prefix, sys.executable, "-c", code],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=host_avahi.env(),
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == "watching"

    def appeared() -> float:
        out, _ = proc.communicate(timeout=30)
        return float(out.strip())

    return appeared


def _announced_after(d: Daemon, times: int) -> str | None:
    """The announcement line after the first ``times`` ones, if logged yet."""
    lines = [line for line in d.lines if "announced as 'steady' through avahi-daemon" in line]
    return lines[times] if len(lines) > times else None


def _log_time(line: str) -> float:
    stamp = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})", line)
    assert stamp, line
    return datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()


def test_pingd_stopped_frees_its_group_and_browsers_drop_it(two_hosts, daemons, tmp_path):
    """Freeing the group sends Avahi's goodbyes at once: pingctl's browser drops pingd within a
    second; avahi-browse one second after the goodbye, as RFC 6762 §10.1 has every cache do."""
    server, watcher = two_hosts
    daemons.append(d := start_pingd(server, tmp_path / "s.json", "--name", "leaving"))
    watch = Watcher("--json", prefix=watcher.prefix)
    try:
        with browsing(watcher) as lines:
            d.wait_for_line("announced as 'leaving' through avahi-daemon")
            wait_for(lambda: resolved(lines, "leaving"), 10, "avahi-browse to resolve pingd")
            watch.first(lambda line: '"added"' in line and '"leaving"' in line, 10, "pingctl to show pingd")
            sent = time.monotonic()
            d.signal(signal.SIGTERM)
            assert d.wait() == 0
            removed, _ = watch.first(lambda line: '"removed"' in line, 5, "pingctl to drop pingd")
            gone = wait_for(
                lambda: next((t for t, line in lines if line.startswith("-;") and ";leaving;" in line), None),
                5,
                "avahi-browse to drop pingd",
            )
    finally:
        watch.kill()
    assert removed - sent <= 1.0
    assert gone - sent <= 1.0 + 0.5


def test_a_hung_avahi_holds_up_neither_serving_nor_a_stop(two_hosts, daemons, tmp_path):
    server, watcher = two_hosts
    daemons.append(d := start_pingd(server, tmp_path / "s.json", "--name", "patient"))
    d.wait_for_line("announced as 'patient' through avahi-daemon")
    assert server.avahi is not None
    os.kill(server.avahi.pid, signal.SIGSTOP)
    try:
        target = ("--server-ip", server.host.address, "--port", str(d.port))
        run = pingctl("ping", *target, "-c", "3", "-i", "0.05", "--json", prefix=watcher.prefix)
        assert run.code == 0 and run.json()["received"] == 3, run.stderr
        sent = time.time()
        d.signal(signal.SIGTERM)
        assert d.wait() == 0
        # Its stop, to the line it logs once the announcer is closed: the group's Free waits
        # LAST_CALL (0.5 s), not a bus call's 2 s. (Timed to the log line, not to the exit: the
        # interpreter's teardown, coverage's data file included, is no part of it.)
        stopped = d.wait_for_line(r"stopped, count \d+", 5)
        assert _log_time(stopped) - sent <= 1.2, d.output
    finally:
        os.kill(server.avahi.pid, signal.SIGCONT)
    assert "Traceback" not in d.output


def test_the_machines_own_bus_is_never_reached_from_the_tests():
    """Tests run pingd with no system bus unless they give an Avahi test host's."""
    assert base_env()["DBUS_SYSTEM_BUS_ADDRESS"].startswith("unix:path=/nonexistent/")
