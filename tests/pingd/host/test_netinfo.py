"""Interface addresses, endpoints, and which interfaces can carry mDNS."""

from __future__ import annotations

import pytest

from pingd.host import netinfo


@pytest.mark.parametrize("host", ["*", "0.0.0.0", "::", "[::]", ""])
def test_wildcards(host):
    assert netinfo.is_wildcard(host)


def test_mdns_interfaces_only_offers_what_can_reach_the_group():
    choice = netinfo.mdns_interfaces()
    assert not set(choice.usable) & {where.split(" ")[0] for where, _ in choice.skipped}
    for _where, why in choice.skipped:
        assert why and "\n" not in why
    v6 = [a for a in choice.usable if ":" in a]
    assert len(v6) == len({a for a in v6})


@pytest.mark.root
def test_in_a_fresh_host_loopback_ipv6_is_skipped_and_the_link_used(network):
    host = network.add_host(ipv6=True)
    code = (
        "from pingd.host import netinfo; c = netinfo.mdns_interfaces(); "
        "print(','.join(c.usable)); print(';'.join(w for w, _ in c.skipped))"
    )
    import sys

    run = host.run(sys.executable, "-c", code)
    assert run.returncode == 0, run.stderr
    usable, skipped = run.stdout.splitlines()
    assert host.address in usable.split(",") and "127.0.0.1" in usable.split(",")
    assert "::1 (lo)" in skipped.split(";")
