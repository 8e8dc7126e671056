"""A daemon as DNS-SD describes it, found over mDNS or in a DNS domain, and the checks every
record passes before pingctl stores, compares or prints anything it says.

Anyone on the link can announce, and whoever controls or spoofs a resolver can answer for a
domain, so a record is read as hostile input: each value is held to its grammar
(``pingd.shared.protocol``), and a record with one value outside it is refused whole, with a reason,
rather than half-used.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field

from pingctl.model import Target
from pingctl.show.text import shown
from pingd.shared import service
from pingd.shared.addresses import ipv4_first
from pingd.shared.service import BadRecord

__all__ = ["BadRecord", "Browsed", "Found", "found_from"]

#: A host name as DNS carries it: dot-separated labels of letters, digits, '-' and '_'.
_HOST = re.compile(r"(?=.{1,253}$)([0-9A-Za-z_-]{1,63})(\.[0-9A-Za-z_-]{1,63})*\.?")


@dataclass(frozen=True, slots=True)
class Found:
    """One daemon as DNS-SD describes it."""

    name: str
    host: str
    addresses: tuple[str, ...]
    port: int
    node_id: str | None
    version: str | None
    protocol: str | None
    curve_key: str | None = None  # announced when the daemon serves only encrypted clients
    domain: str = "local"  # where it was found: "local" (mDNS) or the DNS domain browsed

    def targets(self, server_key: str | None = None) -> list[Target]:
        key = server_key or self.curve_key
        return [Target(a, self.port, name=self.name, node_id=self.node_id, server_key=key) for a in self.addresses]

    def as_dict(self) -> dict:
        data = asdict(self)
        data["addresses"] = list(self.addresses)
        return data


@dataclass(slots=True)
class Browsed:
    """What a browse saw: the usable daemons, the records refused (one note each), and how
    many instances were seen but not resolved before the window closed."""

    found: list[Found]
    ignored: list[str] = field(default_factory=list)
    unresolved: int = 0

    def notes(self, window: str) -> list[str]:
        """Lines for stderr: what was left out, and why."""
        lines = [f"ignored a record: {note}" for note in self.ignored]
        if self.unresolved:
            lines.append(
                f"{self.unresolved} more announced or registered, but their records did not resolve "
                f"within {window}; raise --timeout to see them"
            )
        return lines


def found_from(
    *,
    name: str,
    host: str,
    addresses: Iterable[str],
    port: int,
    txt: Mapping[str, str | None],
    domain: str = "local",
) -> Found:
    """A Found from a resolved record's parts, each checked; BadRecord if one breaks its grammar
    or the record gives no way to reach the daemon."""
    problem = service.instance_name_problem(name)
    if problem is not None:
        raise BadRecord(f"'{shown(name[:80])}': {problem}")
    label = f"'{shown(name)}'"
    host = host.rstrip(".") if isinstance(host, str) else ""
    if host and _HOST.fullmatch(host) is None:
        raise BadRecord(f"{label}: its host name {shown(host[:80])!r} is not a DNS name")
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise BadRecord(f"{label}: port {port!r} is not 1-65535")
    usable = ipv4_first({a for a in addresses if _is_address(a)})
    if not usable:
        raise BadRecord(f"{label}: it gives no IP address")
    try:
        txt_record = service.decode_txt(txt)
    except BadRecord as exc:
        raise BadRecord(f"{label}: {exc}") from None
    return Found(
        name=name,
        host=host,
        addresses=tuple(usable),
        port=port,
        node_id=txt_record.node_id,
        version=txt_record.version,
        protocol=txt_record.protocol,
        curve_key=txt_record.curve_key,
        domain=domain,
    )


def _is_address(text: str) -> bool:
    """An IPv4 or IPv6 address, an IPv6 one perhaps with a zone (``fe80::1%eth0``)."""
    if not isinstance(text, str):
        return False
    address, _, zone = text.partition("%")
    if zone and (":" not in address or not zone.isprintable() or " " in zone or len(zone) > 32):
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    # Nothing answers from these: the unspecified address, a multicast group, the broadcast.
    return not (ip.is_unspecified or ip.is_multicast or ip == ipaddress.IPv4Address("255.255.255.255"))
