"""The DNS-SD records pingd publishes and pingctl reads, over mDNS and in DNS domains alike:
the service type and its labels, the TXT record (written and read here, and nowhere else),
the host-name rule, and the grammar every announced value is held to.

Anyone on the link can announce, and whoever controls or spoofs a resolver can answer for a
domain, so pingctl checks each value against its grammar before it stores, compares or prints
it; pingd's own settings are held to the same grammar (an instance name pingctl would refuse
is refused at start), so a daemon never announces what its clients reject.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from pingd import __version__
from pingd.shared.protocol import VERSION

#: The service type, as mDNS names it and as labels under a DNS domain (RFC 6763 §7).
SERVICE: Final = "_pingd._tcp"
SERVICE_TYPE: Final = f"{SERVICE}.local."
SERVICE_LABELS: Final = (b"_pingd", b"_tcp")
#: Service enumeration (RFC 6763 §9) and browse domains (§11): ``b`` the domains to browse,
#: ``lb`` the one for programs that browse without asking the user (pingctl's case).
DNS_SD_LABELS: Final = (b"_dns-sd", b"_udp")
ENUMERATION_LABELS: Final = (b"_services", *DNS_SD_LABELS)
BROWSE_LABELS: Final = (b"b", b"lb")

#: The keys of its TXT record (RFC 6763: txtvers first, the rest short).
TXT_VERSION: Final = "txtvers"  # "1": the TXT record's own layout
TXT_PROTOCOL: Final = "pv"  # this protocol's version
TXT_PINGD: Final = "ver"  # pingd's version
TXT_NODE_ID: Final = "id"  # the daemon's node id
TXT_CURVE_KEY: Final = "ck"  # the daemon's CURVE public key, when it serves encrypted clients only


#: The grammar of each value a daemon puts on the network, checked by pingctl before it stores,
#: compares or prints one: announcements and registrations can be forged by anyone on the
#: link or in the DNS path. A value outside its grammar makes the whole record unusable.
_NODE_ID = re.compile(r"[0-9A-Za-z]{1,64}")  # pingd makes 16 hex digits; a state file may hold 1-64
_CURVE_KEY = re.compile(r"[0-9a-zA-Z.\-:+=^!/*?&<>()\[\]{}@%$#]{40}")  # Z85, 40 characters
_VERSION_TEXT = re.compile(r"[0-9A-Za-z.+~_-]{1,32}")  # a release, as pip or dpkg spells it
_PROTOCOL_TEXT = re.compile(r"[0-9]{1,3}")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
#: The longest instance name: one DNS label (RFC 6763 §4.1.1).
MAX_NAME_BYTES: Final = 63


def is_node_id(text: object) -> bool:
    """1-64 ASCII letters or digits: no separator, no space, nothing to escape."""
    return isinstance(text, str) and _NODE_ID.fullmatch(text) is not None


def is_curve_key(text: object) -> bool:
    """A CURVE public key in Z85: exactly 40 characters of the Z85 alphabet."""
    return isinstance(text, str) and _CURVE_KEY.fullmatch(text) is not None


def instance_name_problem(text: object) -> str | None:
    """Why ``text`` is no instance name, or None: 1-63 bytes of UTF-8 (a DNS label), no control
    character. (Other invisible characters are allowed, and escaped wherever pingctl prints.)"""
    if not isinstance(text, str) or not text.strip():
        return "an instance name is a non-empty string"
    if len(text.encode("utf-8", errors="replace")) > MAX_NAME_BYTES:
        return f"an instance name is at most {MAX_NAME_BYTES} bytes (a DNS label)"
    if _CONTROL.search(text):
        return "an instance name holds no control characters"
    if any(0xD800 <= ord(c) <= 0xDFFF for c in text) or "\ufffd" in text:
        return "an instance name is UTF-8 text"  # U+FFFD: bytes that were not UTF-8, replaced
    return None


@dataclass(frozen=True, slots=True)
class TxtRecord:
    """What a daemon's TXT record says, every value checked against its grammar."""

    node_id: str
    version: str
    protocol: str
    curve_key: str | None


class BadRecord(ValueError):
    """A DNS-SD record that breaks the grammar; the message says which value and why."""


def decode_txt(items: Mapping[str, str | None]) -> TxtRecord:
    """The TXT record's keys (already lower-cased, first occurrence kept, as RFC 6763 §6.4
    has a reader do) checked and read. Every pingd has published ``id``, ``pv`` and ``ver``,
    so a record without one of them, or with one empty, is no pingd's: BadRecord, as for a
    value outside its grammar. ``ck`` is there only for an encrypted daemon. Unknown keys
    are ignored."""
    for required, what in ((TXT_NODE_ID, "node id"), (TXT_PROTOCOL, "protocol version"), (TXT_PINGD, "version")):
        if not items.get(required):
            raise BadRecord(f"its TXT record has no {what} ({required}=)")
    node_id, version, proto = items[TXT_NODE_ID] or "", items[TXT_PINGD] or "", items[TXT_PROTOCOL] or ""
    key = items.get(TXT_CURVE_KEY) if TXT_CURVE_KEY in items else None
    if not is_node_id(node_id):
        raise BadRecord(f"its node id {node_id[:80]!r} is not 1-64 letters or digits")
    if _VERSION_TEXT.fullmatch(version) is None:
        raise BadRecord(f"its version {version[:80]!r} is not a release number")
    if _PROTOCOL_TEXT.fullmatch(proto) is None:
        raise BadRecord(f"its protocol version {proto[:80]!r} is not a number")
    if TXT_CURVE_KEY in items and not is_curve_key(key):
        raise BadRecord(f"its CURVE key {(key or '')[:80]!r} is not 40 characters of Z85")
    return TxtRecord(node_id=node_id, version=version, protocol=proto, curve_key=key)


def txt_items(strings: Iterable[bytes]) -> dict[str, str | None]:
    """A TXT record's strings as ``decode_txt`` reads them (RFC 6763 §6): ``key=value``, or a
    bare ``key`` with no value; keys lower-cased (they are case-blind) and the first of a
    repeated key kept; an empty string or one starting with '=' skipped; text decoded as
    UTF-8 (undecodable bytes become U+FFFD and fail the grammar later)."""
    items: dict[str, str | None] = {}
    for item in strings:
        if not item or item.startswith(b"="):
            continue
        key, equals, value = item.partition(b"=")
        name = key.decode("ascii", errors="replace").lower()
        if name not in items:
            items[name] = value.decode("utf-8", errors="replace") if equals else None
    return items


def txt_records(node_id: str, curve_key: str | None = None) -> dict[str, str]:
    """The TXT record pingd publishes (RFC 6763: txtvers first, then short keys; ``ck``, the
    CURVE public key, only when the daemon serves encrypted clients)."""
    records = {
        TXT_VERSION: "1",
        TXT_PROTOCOL: str(VERSION),
        TXT_PINGD: __version__,
        TXT_NODE_ID: node_id,
    }
    if curve_key:
        records[TXT_CURVE_KEY] = curve_key
    return records


def host_label(node_id: str) -> str:
    """The daemon's own host name, ``pingd-<node id>`` (``.local.`` over mDNS, the domain in
    DNS): daemons on hosts that share a name (containers, network namespaces) then never
    answer each other's address queries."""
    return f"pingd-{node_id}"
