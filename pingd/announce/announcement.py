"""What every announcer publishes and how each one behaves: the ``Announcement`` (name, port,
addresses, identity), which of the listening addresses go into address records, and the
``Announcer`` interface the daemon drives (start, describe, close) — whether the records go out
through pingd's own mDNS responder, through avahi-daemon, or to a DNS server.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Protocol

#: A failed publication is tried again after FIRST_RETRY seconds, each next time twice as
#: long, up to MAX_RETRY: the same policy for every announcer.
FIRST_RETRY = 1.0
MAX_RETRY = 60.0


@dataclass(frozen=True, slots=True)
class Announcement:
    """What pingd announces: its name, where it listens, who it is."""

    name: str
    port: int
    listening: tuple[str, ...]  # the addresses pingd serves on
    node_id: str
    public_key: str | None = None  # with --curve: clients learn the key from the TXT record


class Announcer(Protocol):
    """One way of making the daemon known. ``start`` never blocks serving and never raises for
    the network's sake; ``describe`` is the status line's part ("mDNS: announced as 'x'");
    ``close`` withdraws the records (goodbyes, a freed entry group, a DNS delete) in bounded time."""

    def start(self) -> None: ...
    def describe(self) -> str: ...
    def close(self) -> None: ...


def announced_addresses(listening: tuple[str, ...], interfaces: tuple[str, ...]) -> list[str]:
    """Which listening addresses to put in A/AAAA records.

    Restricted to --mdns-interface addresses when given (so a loopback-only announcement
    carries 127.0.0.1); otherwise every address but loopback, unless loopback is all there is.
    """
    if interfaces:
        chosen = [a for a in listening if a in interfaces]
        return chosen or list(interfaces)
    outside = [a for a in listening if not ipaddress.ip_address(a).is_loopback]
    return outside or list(listening)


def renamed(requested: str, attempt: int) -> str:
    """The name tried after ``attempt`` collisions: ``box``, ``box-2``, ``box-3`` … — the
    rule pingd's own responder follows, so a renamed daemon is named alike by every backend.
    The suffix never pushes the name past one DNS label (63 bytes)."""
    if attempt == 0:
        return requested
    suffix = f"-{attempt + 1}"
    stem = requested.encode()[: 63 - len(suffix)].decode(errors="ignore")
    return stem + suffix
