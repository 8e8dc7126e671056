"""Announcing pingd on the LAN: a DNS-SD service ``_pingd._tcp.local.`` over mDNS.

zeroconf runs its own asyncio loop in a thread; registration (which probes the name for
about a second) is scheduled on that loop with its asyncio API and never delays readiness:
pingd serves by address from the first moment and becomes discoverable once the probe ends.
A name already taken is renamed (``box`` → ``box-2``) and logged. Failure to start mDNS is
logged and pingd keeps serving by address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from pingd import __version__, protocol
from pingd.protocol import SERVICE_TYPE

log = logging.getLogger("pingd")


def txt_records(node_id: str, curve_key: str | None = None) -> dict[str, str]:
    """TXT keys per RFC 6763: txtvers first, then short keys (ck: the CURVE public key)."""
    records = {
        protocol.TXT_VERSION: "1",
        protocol.TXT_PROTOCOL: str(protocol.VERSION),
        protocol.TXT_PINGD: __version__,
        protocol.TXT_NODE_ID: node_id,
    }
    if curve_key:
        records[protocol.TXT_CURVE_KEY] = curve_key
    return records


def host_name(node_id: str) -> str:
    """A host name of the daemon's own: daemons on hosts that share a name (containers,
    network namespaces) then never answer each other's address queries."""
    return f"pingd-{node_id}.local."


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


@dataclass(frozen=True, slots=True)
class Announcement:
    """What pingd announces: its name, where it listens, who it is."""

    name: str
    port: int
    listening: tuple[str, ...]  # the addresses pingd serves on
    node_id: str
    public_key: str | None = None  # with --curve: clients learn the key from the TXT record


class MdnsAnnouncer:
    """Registers ``announcement`` over mDNS, without delaying readiness, and says goodbye.

    A name taken on the network is renamed by zeroconf; ``on_renamed`` is then called with the
    new name, from zeroconf's thread: the daemon hands it to its own loop, the one thread that
    owns the actor.
    """

    def __init__(
        self,
        announcement: Announcement,
        interfaces: tuple[str, ...] = (),
        on_renamed: Callable[[str], None] = lambda name: None,
    ) -> None:
        self._announcement = announcement
        self._interfaces = interfaces
        self._on_renamed = on_renamed
        self._zeroconf: Any = None  # zeroconf's Zeroconf, once started (imported only then)
        self._info: Any = None
        self._future: Future | None = None
        self._state = "mDNS: starting"

    def describe(self) -> str:
        return self._state

    def start(self) -> None:
        try:
            self._start()
        except Exception as exc:  # no multicast, no interfaces, a bad --mdns-interface
            self._state = f"mDNS: off ({exc})"
            log.warning("mDNS announcement failed: %s; serving by address only", exc)
            self.close()

    def _start(self) -> None:
        from zeroconf import ServiceInfo, Zeroconf

        quiet_library_logs()
        a = self._announcement
        addresses = announced_addresses(a.listening, self._interfaces)
        self._zeroconf = Zeroconf(interfaces=list(self._interfaces or _multicast_interfaces()))
        self._info = ServiceInfo(
            SERVICE_TYPE,
            f"{a.name}.{SERVICE_TYPE}",
            port=a.port,
            addresses=[socket.inet_pton(_family(address), address) for address in addresses],
            properties=txt_records(a.node_id, a.public_key),
            server=host_name(a.node_id),
        )
        self._state = f"mDNS: registering '{a.name}'"
        log.info("announcing '%s' over mDNS with %s", a.name, ", ".join(addresses))
        coro = self._zeroconf.async_register_service(self._info, allow_name_change=True)
        self._future = asyncio.run_coroutine_threadsafe(coro, self._zeroconf.loop)
        self._future.add_done_callback(self._registered)

    def _registered(self, future: Future) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            self._state = f"mDNS: off ({exc})"
            log.warning("mDNS registration failed: %s; serving by address only", exc)
            return
        requested = self._announcement.name
        name = self._info.name.removesuffix(f".{SERVICE_TYPE}")
        if name != requested:
            log.warning("mDNS name '%s' is taken on this network; announced as '%s'", requested, name)
            self._on_renamed(name)
        else:
            log.info("announced as '%s'", name)
        self._state = f"mDNS: announced as '{name}'"

    def close(self) -> None:
        """Unregister (goodbye packets, so browsers drop us at once) and stop zeroconf."""
        if self._future is not None and not self._future.done():
            self._future.cancel()
        if self._zeroconf is not None:
            try:
                self._zeroconf.close()  # unregisters all services first
            except Exception as exc:
                log.warning("mDNS shutdown: %s", exc)
            self._zeroconf = None


def _multicast_interfaces() -> list[str]:
    """Every address that can carry mDNS; each one that cannot is named once, at info level."""
    from pingd.netinfo import mdns_interfaces

    choice = mdns_interfaces()
    for where, why in choice.skipped:
        log.info("mDNS: not using %s: %s", where, why)
    if not choice.usable:
        raise OSError("no interface can send to the mDNS group")
    return list(choice.usable)


class QuietLibrary(logging.Filter):
    """The mDNS library's expected noise is not an operator's concern.

    A socket it cannot send on or an address it cannot bind (an interface going down, IPv6
    without a route) is demoted to debug; whatever it still says at WARNING comes as one
    line, never with a traceback.
    """

    EXPECTED = (
        "Error with socket",
        "Address not available when binding",
        "Address in use when adding",
        "Unable to read",
        "Skipping interface update",
        "No route to host",
    )

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.msg = f"{record.getMessage()} ({record.exc_info[1]})"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        if record.levelno >= logging.WARNING and str(record.msg).startswith(self.EXPECTED):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return log.isEnabledFor(logging.DEBUG)
        return True


def quiet_library_logs() -> None:
    """Install ``QuietLibrary`` on zeroconf's logger (once)."""
    library = logging.getLogger("zeroconf")
    if not any(isinstance(f, QuietLibrary) for f in library.filters):
        library.addFilter(QuietLibrary())


def _family(address: str) -> int:
    return socket.AF_INET6 if ":" in address else socket.AF_INET
