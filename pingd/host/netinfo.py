"""The host's interface addresses, for the `listening on` lines and the mDNS announcement."""

from __future__ import annotations

import ipaddress
import socket
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported for real only where interfaces are listed
    import ifaddr


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


def interface_indexes() -> dict[str, int]:
    """Each interface address (text, IPv6 without its scope) and the index of its interface."""
    import ifaddr

    found: dict[str, int] = {}
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            text = str(ip.ip) if ip.is_IPv4 else str(ipaddress.IPv6Address(ip.ip[0]))
            if adapter.index is not None:
                found.setdefault(text, adapter.index)
    return found


def _order(address: str) -> tuple[bool, str]:
    ip = ipaddress.ip_address(address)
    return (not ip.is_loopback, address)


def is_wildcard(host: str) -> bool:
    return host in ("*", "0.0.0.0", "::", "[::]", "")


_MDNS_GROUP_V4 = "224.0.0.251"
_MDNS_GROUP_V6 = "ff02::fb"
_MDNS_PORT = 5353


@dataclass(frozen=True, slots=True)
class MdnsInterfaces:
    """Where mDNS can work: addresses to give zeroconf, and what was left out and why."""

    usable: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...]  # (address on interface, why)


def mdns_interfaces() -> MdnsInterfaces:
    """Every interface address that can send to the mDNS group, one IPv6 address per link.

    Each candidate is tried the way a responder will use it — a UDP socket bound to the
    address, the group joined through that interface, a route to the group looked up — so
    an IPv6 ``::1`` with no multicast route or a link-local address still in duplicate
    address detection is left out here, in one line, instead of failing inside the mDNS
    library with a traceback in the journal.
    """
    import ifaddr

    usable: list[str] = []
    skipped: list[tuple[str, str]] = []
    for adapter in ifaddr.get_adapters():
        v6_chosen = False
        # Link-local first: the address mDNS over IPv6 is meant to be sent from.
        ips = sorted(adapter.ips, key=lambda ip: (not ip.is_IPv4, not _is_link_local(ip)))
        for ip in ips:
            if ip.is_IPv4:
                address, why = str(ip.ip), _v4_multicast_error(str(ip.ip))
            else:
                if v6_chosen:
                    continue
                address, why = ip.ip[0], _v6_multicast_error(ip.ip[0], adapter.index or 0)
            if why is None:
                usable.append(address)
                v6_chosen = v6_chosen or not ip.is_IPv4
            else:
                skipped.append((f"{address} ({adapter.nice_name})", why))
    return MdnsInterfaces(tuple(usable), tuple(skipped))


def _is_link_local(ip: ifaddr.IP) -> bool:
    return not ip.is_IPv4 and ipaddress.IPv6Address(ip.ip[0]).is_link_local


def _v4_multicast_error(address: str) -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((address, 0))
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(address))
            s.connect((_MDNS_GROUP_V4, _MDNS_PORT))
        except OSError as exc:
            return (exc.strerror or str(exc)).lower()
    return None


def _v6_multicast_error(address: str, index: int) -> str | None:
    scope = index if ipaddress.IPv6Address(address).is_link_local else 0
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    except OSError as exc:
        return (exc.strerror or str(exc)).lower()
    with s:
        try:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, struct.pack("@I", index))
            s.bind((address, 0, 0, scope))
            s.connect((_MDNS_GROUP_V6, _MDNS_PORT, 0, index))
        except OSError as exc:
            return (exc.strerror or str(exc)).lower()
    return None
