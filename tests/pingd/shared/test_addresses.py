"""One rule for IPv6 brackets and address families, for both programs."""

from __future__ import annotations

import socket

import pytest

from pingd.shared import addresses


def test_endpoints_and_host_ports_bracket_ipv6_once():
    assert addresses.endpoint("::1", 7464) == "tcp://[::1]:7464"
    assert addresses.endpoint("127.0.0.1", 7464) == "tcp://127.0.0.1:7464"
    assert addresses.endpoint("[::1]", 1) == "tcp://[::1]:1"
    assert addresses.host_port("fe80::1%eth0", 5) == "[fe80::1%eth0]:5"
    assert addresses.host_port("box.example.org", 5) == "box.example.org:5"


@pytest.mark.parametrize(
    ("host", "ipv6"),
    [("::1", True), ("[::1]", True), ("fe80::1%2", True), ("10.0.0.1", False), ("box", False), ("a:b", False)],
)
def test_the_family_is_read_from_the_address_not_guessed_from_a_colon(host, ipv6):
    assert addresses.is_ipv6(host) is ipv6
    assert addresses.family(host) == (socket.AF_INET6 if ipv6 else socket.AF_INET)


def test_ipv4_comes_first():
    assert addresses.ipv4_first({"fd00::5", "10.0.0.5", "10.0.0.4"}) == ["10.0.0.4", "10.0.0.5", "fd00::5"]
