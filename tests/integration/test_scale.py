"""A rack: a hundred pingd on one link, and the fleet commands with their default flags; and
more daemons than BIND takes records of one type at a name by default, registered in one zone.

Every daemon on the link is announced over mDNS on the loopback of a namespace of their own;
pingctl runs there too. The zone's daemons have no mDNS: each registers by DNS update on a DNS
world's server host, and pingctl asks from its client host with ``--domain``. What is asserted
is what must hold at any scale — every daemon found, every one answered, no pong lost, each
one's goodbye seen, every one stopped — not how fast: the figures for 100 and 300 daemons are
`make bench`'s (docs/performance.md).
"""

from __future__ import annotations

import json
import signal

import pytest

from tests.conftest import require
from tests.support import dnsworld
from tests.support.netns import available
from tests.support.processes import Watcher, pingctl, wait_for
from tests.support.rack import Rack

SIZE = 100
LO = ("--mdns-interface", "127.0.0.1")
#: Above BIND's default max-records-per-type (100): the service's PTR set has one per daemon.
ZONE_SIZE = 120

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def rack():
    require(available())
    with Rack(SIZE) as made:
        yield made


def _pingctl(rack: Rack, *args: str):
    run = pingctl(*args, *LO, prefix=rack.run_prefix, timeout=120)
    assert run.code == 0, run.stderr[-2000:]
    return run


def test_discover_lists_every_daemon_of_a_hundred(rack):
    found = {d["name"]: d for d in _pingctl(rack, "discover", "--json").json()}
    assert sorted(found) == sorted(m.name for m in rack.members)
    assert all(found[m.name]["port"] == m.port for m in rack.members)


def test_status_all_has_a_row_for_every_daemon_each_answered(rack):
    rows = _pingctl(rack, "status", "--all", "--json").json()
    assert sorted(r["name"] for r in rows) == sorted(m.name for m in rack.members)
    unanswered = [r for r in rows if not isinstance(r.get("count"), int)]
    assert unanswered == []


def test_ping_all_loses_no_pong_on_any_daemon(rack):
    reports = _pingctl(rack, "ping", "--all", "--count", "5", "--interval", "0.1", "--json").json()
    assert sorted(r["server"]["name"] for r in reports) == sorted(m.name for m in rack.members)
    lossy = [(r["server"]["name"], r["sent"], r["received"]) for r in reports if (r["sent"], r["received"]) != (5, 5)]
    assert lossy == []


def test_discover_watch_shows_every_daemon_and_each_goodbye(rack):
    watcher = Watcher(*LO, "--json", prefix=rack.run_prefix)
    try:
        added = lambda: {json.loads(line)["name"] for _, line in watcher.lines if '"added"' in line}  # noqa: E731
        wait_for(lambda: len(added()) == SIZE or None, 30, f"all {SIZE} daemons to be shown")
        leaving = rack.members[-10:]
        for member in leaving:
            member.proc.send_signal(signal.SIGTERM)
        removed = lambda: {json.loads(line)["name"] for _, line in watcher.lines if '"removed"' in line}  # noqa: E731
        wait_for(lambda: removed() == {m.name for m in leaving} or None, 15, "each goodbye to be seen")
        assert all(m.proc.wait(10) == 0 for m in leaving)
        assert watcher.stop() == 0
    finally:
        watcher.kill()


def test_every_daemon_stops_cleanly_when_all_are_stopped_together(rack):
    running = [m for m in rack.members if m.proc.poll() is None]
    exits = rack.stop_all()
    assert len(exits) == len(rack.members)
    assert [m.proc.returncode for m in running] == [0] * len(running)


def test_a_zone_of_more_than_a_hundred_registrations_is_found_answered_and_pinged():
    require(dnsworld.available())
    with dnsworld.DnsWorld() as world:
        announce = ("--no-mdns", "--dns-domain", dnsworld.ZONE, "--dns-server", dnsworld.DNS_ADDRESS,
                    "--dns-key", str(world.key_file))  # fmt: skip
        with Rack(ZONE_SIZE, "zone", namespace=world.server.namespace, bind=world.server.address,
                  announce=announce, ready="DNS: registered as ") as rack:  # fmt: skip
            names = sorted(m.name for m in rack.members)

            def ask(*args: str):
                run = pingctl(*args, "--domain", dnsworld.ZONE, prefix=world.client.prefix, timeout=120)
                assert run.code == 0, run.stderr[-2000:]
                return run.json()

            assert sorted(d["name"] for d in ask("discover", "--json")) == names
            rows = ask("status", "--all", "--json")
            assert sorted(r["name"] for r in rows if isinstance(r.get("count"), int)) == names
            reports = ask("ping", "--all", "--count", "3", "--interval", "0.1", "--json")
            assert sorted((r["server"]["name"], r["received"]) for r in reports) == [(n, 3) for n in names]
