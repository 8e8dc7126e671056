"""Reading pingd's DNS-SD records out of a zeroconf cache, the way both programs trust them:
only class-IN records count (an attacker's records of class CH were used before), only for
names a class-IN PTR of the service type points to, and nothing expired. pingctl's discovery
(``pingctl.find.cache``) and pingd's mesh (``pingd.mesh.peers``) read through here; each then
holds the values to their grammar (``pingd.shared.service``) before using one.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any, Final

from pingd.shared import service
from pingd.shared.service import SERVICE_TYPE

TYPE_A: Final = 1
TYPE_PTR: Final = 12
TYPE_TXT: Final = 16
TYPE_AAAA: Final = 28
TYPE_SRV: Final = 33
CLASS_IN: Final = 1


@dataclass(frozen=True, slots=True)
class Records:
    """One instance's SRV, TXT and address records, as found (values not yet checked)."""

    host: str
    port: int
    addresses: list[str]
    txt: dict[str, str | None]  # service.txt_items of the TXT record


def live(zc: Any, name: str, rdtype: int, now: float) -> list:
    """The cached records of ``name`` of this type and class IN that have not expired."""
    return [r for r in zc.cache.get_all_by_details(name, rdtype, CLASS_IN) if not r.is_expired(now)]


def pointers(zc: Any, now: float) -> set[str]:
    """The names (lower case) that class-IN PTR records of the service type point at: asked
    once for a crowd, not once per name (300 names against 300 records cost 0.7 s)."""
    return {r.alias.lower() for r in live(zc, SERVICE_TYPE, TYPE_PTR, now)}


def records(zc: Any, full_name: str, now: float) -> Records | None:
    """The instance's newest SRV, its host's addresses and its TXT record; None while the SRV
    or every address is missing."""
    srvs = live(zc, full_name, TYPE_SRV, now)
    if not srvs:
        return None
    srv = max(srvs, key=lambda r: r.created)
    addresses = [address_text(r) for kind in (TYPE_A, TYPE_AAAA) for r in live(zc, srv.server, kind, now)]
    addresses = [a for a in addresses if a]
    if not addresses:
        return None
    txts = live(zc, full_name, TYPE_TXT, now)
    text = max(txts, key=lambda r: r.created).text if txts else b""
    return Records(host=srv.server, port=srv.port, addresses=addresses, txt=service.txt_items(txt_strings(text)))


def address_text(record: Any) -> str:
    """An A or AAAA record's address as text (a link-local IPv6 one with its scope); "" if the
    record's bytes are no address."""
    try:
        text = socket.inet_ntop(socket.AF_INET6 if len(record.address) == 16 else socket.AF_INET, record.address)
    except (ValueError, OSError):
        return ""
    scope = getattr(record, "scope_id", None)
    return f"{text}%{scope}" if scope and text.lower().startswith("fe80") else text


def txt_strings(rdata: bytes) -> list[bytes]:
    """The strings of TXT rdata, each a length byte and that many bytes (RFC 1035 §3.3.14)."""
    strings: list[bytes] = []
    offset = 0
    while offset < len(rdata):
        length = rdata[offset]
        strings.append(rdata[offset + 1 : offset + 1 + length])
        offset += 1 + length
    return strings
