"""Test hosts: network namespaces joined by veth links to a bridge, made and removed by us.

Each ``Network`` has a "switch" namespace holding a bridge and any number of host namespaces,
each with one veth into the switch and an address in 10.213.0.0/24. Nothing in them reaches
the real network. Names are unique per run, so concurrent runs never collide, and ``close()``
deletes every namespace it made (the veths go with them), even after a failure.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

SUBNET = "10.213.0"
SUBNET6 = "fd00:213::"


def available() -> str | None:
    """None if namespaces can be made here, else why not."""
    if os.geteuid() != 0:
        return "needs root"
    if shutil.which("ip") is None:
        return "needs iproute2 (ip)"
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


def add_namespace(name: str, made: list[str]) -> None:
    """Make namespace ``name`` with loopback up, and note it in ``made`` (to delete later)."""
    _ip("netns", "add", name)
    made.append(name)
    _ip("-n", name, "link", "set", "lo", "up")


@dataclass
class Host:
    namespace: str
    address: str
    interface: str
    address6: str | None = None  # a routable IPv6 address, when the host was given one

    @property
    def prefix(self) -> list[str]:
        """Prepend to a command to run it on this host."""
        return ["ip", "netns", "exec", self.namespace]

    def run(self, *cmd: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run([*self.prefix, *cmd], capture_output=True, text=True, timeout=60, **kwargs)


@dataclass
class Network:
    tag: str = field(default_factory=lambda: "pd" + secrets.token_hex(3))
    hosts: list[Host] = field(default_factory=list)
    _namespaces: list[str] = field(default_factory=list)

    @property
    def switch(self) -> str:
        return f"{self.tag}-sw"

    def __enter__(self) -> Network:
        try:
            self._add_namespace(self.switch)
            _ip("-n", self.switch, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
            _ip("-n", self.switch, "link", "set", "br0", "up")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _add_namespace(self, name: str) -> None:
        add_namespace(name, self._namespaces)

    def add_host(self, ipv6: bool = False) -> Host:
        index = len(self.hosts) + 1
        ns = f"{self.tag}-h{index}"
        inner, outer = f"{self.tag}h{index}", f"{self.tag}s{index}"  # ≤ 15 characters
        self._add_namespace(ns)
        _ip("link", "add", inner, "netns", ns, "type", "veth", "peer", "name", outer, "netns", self.switch)
        _ip("-n", self.switch, "link", "set", outer, "master", "br0", "up")
        address = f"{SUBNET}.{index}"
        _ip("-n", ns, "addr", "add", f"{address}/24", "dev", inner)
        address6 = None
        if ipv6:
            address6 = f"{SUBNET6}{index}"
            _ip("-n", ns, "addr", "add", f"{address6}/64", "dev", inner, "nodad")
        _ip("-n", ns, "link", "set", inner, "up")
        _ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", inner)  # mDNS leaves by the veth
        host = Host(ns, address, inner, address6)
        self.hosts.append(host)
        return host

    def close(self) -> None:
        for name in reversed(self._namespaces):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
        self._namespaces.clear()


@dataclass(frozen=True)
class Link:
    host: Host  # the test host at the link's far end
    address: str  # the address at the process's end


@contextmanager
def link_to(pid: int, subnet: str = "10.215.0", interface: str = "eth0") -> Iterator[Link]:
    """A test host joined by one veth link straight to the network namespace of process
    ``pid`` (a systemd box's PID 1, whose namespace has only ``lo``): the link is that
    namespace's ``interface``, with ``subnet``.1; the host has ``subnet``.2. Both sides route
    multicast out of the link, so mDNS crosses it. At the end the host's namespace is deleted,
    and the veth pair with it (both ends), even after a failure."""
    tag = "pl" + secrets.token_hex(3)
    namespace, veth, peer, address = f"{tag}-peer", f"{tag}p", f"{subnet}.2", f"{subnet}.1"
    made: list[str] = []
    try:
        add_namespace(namespace, made)
        _ip("-n", namespace, "link", "add", veth, "type", "veth", "peer", "name", interface, "netns", str(pid))
        outside = (["ip", "-n", namespace], veth, peer)
        inside = (["nsenter", "-t", str(pid), "-n", "ip"], interface, address)
        for ip, link, where in (outside, inside):
            for args in (["addr", "add", f"{where}/24", "dev", link], ["link", "set", link, "up"],
                         ["route", "add", "224.0.0.0/4", "dev", link]):  # fmt: skip
                subprocess.run([*ip, *args], check=True, capture_output=True, timeout=30)
        yield Link(Host(namespace, peer, veth), address)
    finally:
        for name in made:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
