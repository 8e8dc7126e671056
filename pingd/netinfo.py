"""The host's interface addresses, for the `listening on` lines and the mDNS announcement."""

from __future__ import annotations

import ipaddress


def interface_addresses() -> list[str]:
    """Every usable address of every interface (IPv4 first; link-local IPv6 left out,
    since it is useless without an interface scope)."""
    import ifaddr

    v4: list[str] = []
    v6: list[str] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if ip.is_IPv4:
                v4.append(str(ip.ip))
            else:
                address = ipaddress.IPv6Address(ip.ip[0])
                if not address.is_link_local:
                    v6.append(str(address))
    return sorted(set(v4), key=_order) + sorted(set(v6), key=_order)


def _order(address: str) -> tuple[bool, str]:
    ip = ipaddress.ip_address(address)
    return (not ip.is_loopback, address)


def is_wildcard(host: str) -> bool:
    return host in ("*", "0.0.0.0", "::", "[::]", "")


def endpoint(host: str, port: int) -> str:
    """A ZeroMQ TCP endpoint, bracketing IPv6 literals."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"tcp://{host}:{port}"


def is_ipv6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).version == 6
    except ValueError:
        return False
