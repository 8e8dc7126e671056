"""Addresses as both programs write and read them: one rule for IPv6 brackets and one for
telling the families apart, instead of ``":" in address`` in each module that needs it."""

from __future__ import annotations

import ipaddress
import socket


def is_ipv6(host: str) -> bool:
    """Whether ``host`` is an IPv6 literal (brackets and a ``%zone`` allowed); False for IPv4
    and for host names."""
    try:
        return ipaddress.ip_address(host.strip("[]").partition("%")[0]).version == 6
    except ValueError:
        return False


def family(host: str) -> socket.AddressFamily:
    """The socket family to reach ``host`` with (an IPv4 literal or a name: AF_INET)."""
    return socket.AF_INET6 if is_ipv6(host) else socket.AF_INET


def host_port(host: str, port: int) -> str:
    """``host:port``, with an IPv6 literal in brackets (``[::1]:7464``)."""
    if is_ipv6(host) and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


def endpoint(host: str, port: int) -> str:
    """The ZeroMQ TCP endpoint of ``host`` and ``port`` (``tcp://[::1]:7464``)."""
    return f"tcp://{host_port(host, port)}"


def ipv4_first(addresses: list[str] | tuple[str, ...] | set[str]) -> list[str]:
    """Addresses in the order pingd lists and pingctl tries them: IPv4 first, then by text."""
    return sorted(addresses, key=lambda a: (is_ipv6(a), a))
