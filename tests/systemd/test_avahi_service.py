"""pingd from the Debian package, under the shipped hardened unit, publishing through the
box's own avahi-daemon (Debian's dbus and avahi-daemon units, started with systemctl).

The box has only `lo`, and Avahi never uses loopback: a veth link joins it to a peer host
(a network namespace of the test's), which runs an avahi-daemon of its own — avahi-browse
there is a DNS-SD browser nobody here wrote — and pingctl. The conffile is the package's own
(no mdns_interfaces, mdns_backend auto), so pingd finds Avahi on the system bus by itself.
"""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.conftest import require
from tests.integration.test_avahi import browsing, mdns_sockets
from tests.support.processes import pingctl, wait_for
from tests.systemd import debs

pytestmark = pytest.mark.root

PORT = "7464"
#: The first dynamic UID systemd allocates (DynamicUser=); static system users are below it.
DYNAMIC_UID_MIN = 61184


@pytest.fixture
def peer(box, tmp_path):
    """A host on a veth link to the box (10.215.0.2; the box is 10.215.0.1), running
    avahi-daemon with a bus of its own; both are gone at the end, even after a failure."""
    from tests.support import avahi, netns

    require(netns.available() or avahi.available())
    with netns.link_to(box.pid) as link, avahi.Avahi(link.host, "avahi-peer", tmp_path) as watcher:
        yield link, watcher


def test_the_package_publishes_through_the_boxs_avahi_under_the_hardened_unit(box, current_deb, peer):
    link, watcher = peer
    name = box.tag  # the box's host name: pingd's instance name by default
    box.run("systemctl", "start", "dbus", "avahi-daemon")
    with browsing(watcher) as lines:
        started = time.monotonic()
        debs.install(box, current_deb.path)
        conffile = (box.root / "etc/pingd/pingd.toml").read_text()
        assert not re.search(r"^\s*mdns_(interfaces|backend)\s*=", conffile, re.M)  # the defaults: auto
        _published(box, name, times=1)
        published = time.monotonic() - started
        pingd = _the_service_as_it_runs(box, name)
        _found_by_the_peer(link, watcher, lines, name, node_id=pingd["node_id"])
        found = time.monotonic() - started

        before = debs.show(box, "pingd", "MainPID", "NRestarts")
        started = time.monotonic()
        box.run("systemctl", "restart", "avahi-daemon")
        _published(box, name, times=2)
        republished = time.monotonic() - started
        assert debs.show(box, "pingd", "MainPID", "NRestarts") == before  # pingd itself never restarted
        # The restarted Avahi knows only what pingd published in it anew: a fresh pingctl in the
        # peer (a cache of its own) finds pingd through it. The old Avahi's goodbyes reached the
        # peer's Avahi; whether it dropped pingd a second before the new announcement came is a
        # race, so only its latest word on pingd is checked.
        _found_by_the_peer(link, watcher, lines, name, node_id=pingd["node_id"])

        mark = len(lines)
        started = time.monotonic()
        box.run("systemctl", "stop", "pingd")
        _dropped(lines, name, since=mark)
        gone = time.monotonic() - started
    assert name not in {e["name"] for e in _discover(watcher)}
    journal = box.journal("pingd")
    assert "Traceback" not in journal, journal
    assert "another IPv4 mDNS stack" not in box.journal("avahi-daemon")
    print(f"install → announced through Avahi {published:.1f} s, found by the peer {found:.1f} s; "
          f"Avahi restarted → published again {republished:.1f} s; stopped → dropped {gone:.1f} s")  # fmt: skip


def _published(box, name: str, times: int) -> None:
    """pingd's journal says, ``times`` times in all, that it published through Avahi; its
    status line says so now."""
    line = f"announced as '{name}' through avahi-daemon"
    wait_for(lambda: box.journal("pingd").count(line) >= times, 20, f"pingd to publish through Avahi ({times})")
    journal = box.journal("pingd")
    assert journal.count(line) == times, journal
    said = "mDNS: announcing through avahi-daemon (D-Bus): avahi-daemon is on the system bus"
    assert journal.count(said) == 1, journal  # said once, at start
    wait_for(lambda: f"mDNS: {line}" in debs.show(box, "pingd", "StatusText")["StatusText"], 10, "STATUS= to say so")


def _the_service_as_it_runs(box, name: str) -> dict:
    """pingd's status; on the way, what the hardened unit runs it as: the package's static
    user (the bus refuses a dynamic one), no mDNS socket of its own, exposure still ≤ 2.0."""
    main = debs.main_pid(box)
    user = box.run("getent", "passwd", "pingd").stdout.split(":")
    uid = box.run("stat", "-c", "%u", f"/proc/{main}").stdout.strip()
    assert uid == user[2] and int(uid) < DYNAMIC_UID_MIN, (uid, user)
    assert mdns_sockets(box.host_pid(main)) == []  # Avahi answers mDNS for it
    security = box.run("systemd-analyze", "security", "--no-pager", "pingd").stdout
    assert re.search(r"✓ User=/DynamicUser=\s+Service runs under a transient non-root user identity", security)
    score = float(re.search(r"Overall exposure level for pingd\.service: (\d+\.\d+)", security).group(1))
    assert score <= 2.0, security
    out = box.run("/usr/bin/pingctl", "status", "--server-ip", "127.0.0.1", "--json")
    status = json.loads(out.stdout)
    assert f"mDNS: announced as '{name}' through avahi-daemon" in status["announced"], status
    return status


def _found_by_the_peer(link, watcher, lines, name: str, node_id: str) -> None:
    """pingctl in the peer lists pingd at the box's address and the daemon's port and pings it
    by name; the peer's avahi-browse holds it resolved there (its latest word on pingd)."""
    listed = {e["name"]: e for e in _discover(watcher)}
    assert name in listed, listed
    assert link.address in listed[name]["addresses"] and str(listed[name]["port"]) == PORT, listed[name]
    ping = pingctl("ping", "--name", name, "-c", "3", "-i", "0", "--json", prefix=watcher.prefix)
    assert ping.code == 0, ping.stderr
    report = ping.json()
    assert report["received"] == 3 and report["server"]["node_id"] == node_id, report

    def latest() -> list[str] | None:
        said = [line.split(";") for _, line in lines if line[:2] in ("=;", "-;") and line.split(";")[3] == name]
        return said[-1] if said and said[-1][0] == "=" else None

    fields = wait_for(latest, 15, f"the peer's avahi-browse to resolve {name!r}")
    assert (fields[2], fields[7], fields[8]) == ("IPv4", link.address, PORT), fields
    assert f'"id={node_id}"' in fields[9], fields


def _dropped(lines, name: str, since: int) -> None:
    """Wait for the peer's avahi-browse to drop pingd (a '-' line after line ``since``)."""
    dropped = re.compile(rf"-;[^;]*;[^;]*;{re.escape(name)};")
    what = f"the peer's avahi-browse to drop {name!r}"
    wait_for(lambda: any(dropped.match(line) for _, line in lines[since:]), 10, what)


def _discover(watcher) -> list[dict]:
    run = pingctl("discover", "--timeout", "1.5", "--json", prefix=watcher.prefix)
    assert run.code == 0, run.stderr
    return run.json()
