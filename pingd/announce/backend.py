"""Which responder carries pingd's mDNS records: avahi-daemon, where the host runs it, or
pingd's own (python-zeroconf). One responder per host is what RFC 6762 §15 asks for: two on
one port steal each other's unicast answers and each probe and defend names on their own.

``auto`` asks the system bus whether avahi-daemon owns its name, once, at start (a daemon
started before Avahi, with ``auto``, keeps its own responder until restarted; with ``avahi``
it waits for Avahi instead). Avahi never uses loopback, so announcing on a loopback address
(the demo's ``--mdns-interface 127.0.0.1``) is always pingd's own responder's job.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

AVAHI = "avahi"
ZEROCONF = "zeroconf"


@dataclass(frozen=True, slots=True)
class Choice:
    backend: str  # AVAHI or ZEROCONF
    why: str

    def log_line(self) -> str:
        """The one line the log says at start."""
        who = "through avahi-daemon (D-Bus)" if self.backend == AVAHI else "with its own responder (python-zeroconf)"
        return f"mDNS: announcing {who}: {self.why}"


def choose(
    setting: str, interfaces: tuple[str, ...], addresses: list[str], avahi_missing: Callable[[], str | None]
) -> Choice:
    """The backend for ``setting`` (auto, avahi or zeroconf), given the --mdns-interface
    addresses and the addresses the announcement would carry; ``avahi_missing`` says why
    Avahi cannot be used (None: it can), asked only for ``auto``."""
    if setting == ZEROCONF:
        return Choice(ZEROCONF, "mdns_backend is zeroconf")
    if setting == AVAHI:
        return Choice(AVAHI, "mdns_backend is avahi")
    loopback = next((a for a in interfaces if ipaddress.ip_address(a).is_loopback), None)
    if loopback is not None:
        return Choice(ZEROCONF, f"avahi-daemon never announces on loopback ({loopback})")
    if addresses and all(ipaddress.ip_address(a).is_loopback for a in addresses):
        return Choice(ZEROCONF, f"avahi-daemon never announces loopback addresses ({', '.join(addresses)})")
    why = avahi_missing()
    if why is None:
        return Choice(AVAHI, "avahi-daemon is on the system bus")
    return Choice(ZEROCONF, why)
