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
from concurrent.futures import Future
from typing import TYPE_CHECKING

from pingd import __version__, protocol
from pingd.protocol import SERVICE_TYPE

if TYPE_CHECKING:
    from pingd.config import Config
    from pingd.server import Daemon

log = logging.getLogger("pingd")



def txt_records(node_id: str, curve_key: str | None = None) -> dict[str, str]:
    """TXT keys per RFC 6763: txtvers first, then short keys (ck: the CURVE public key)."""
    records = {"txtvers": "1", "pv": str(protocol.VERSION), "ver": __version__, "id": node_id}
    if curve_key:
        records["ck"] = curve_key
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


class MdnsAnnouncer:
    def __init__(self, daemon: Daemon, config: Config) -> None:
        self._daemon = daemon
        self._interfaces = config.mdns_interfaces
        self._requested = daemon.actor.identity.name
        self._zeroconf = None
        self._info = None
        self._future: Future | None = None
        self._state = "mDNS starting"

    def describe(self) -> str:
        return self._state

    def start(self) -> None:
        try:
            self._start()
        except Exception as exc:  # no multicast, no interfaces, a bad --mdns-interface
            self._state = f"mDNS off ({exc})"
            log.warning("mDNS announcement failed: %s; serving by address only", exc)
            self.close()

    def _start(self) -> None:
        from zeroconf import ServiceInfo, Zeroconf

        quiet_library_logs()
        daemon = self._daemon
        addresses = announced_addresses(daemon.listening.addresses, self._interfaces)
        self._zeroconf = Zeroconf(interfaces=list(self._interfaces or _multicast_interfaces()))
        node_id = daemon.store.node_id
        self._info = ServiceInfo(
            SERVICE_TYPE,
            f"{self._requested}.{SERVICE_TYPE}",
            port=daemon.listening.port,
            addresses=[socket.inet_pton(_family(a), a) for a in addresses],
            properties=txt_records(node_id, daemon.actor.identity.public_key),
            server=host_name(node_id),
        )
        self._state = f"mDNS registering '{self._requested}'"
        log.info("announcing '%s' over mDNS with %s", self._requested, ", ".join(addresses))
        coro = self._zeroconf.async_register_service(self._info, allow_name_change=True)
        self._future = asyncio.run_coroutine_threadsafe(coro, self._zeroconf.loop)
        self._future.add_done_callback(self._registered)

    def _registered(self, future: Future) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            self._state = f"mDNS off ({exc})"
            log.warning("mDNS registration failed: %s; serving by address only", exc)
            return
        name = self._info.name.removesuffix(f".{SERVICE_TYPE}")
        if name != self._requested:
            log.warning("mDNS name '%s' is taken on this network; announced as '%s'", self._requested, name)
            self._daemon.actor.identity.name = name
        else:
            log.info("announced as '%s'", name)
        self._state = f"announced as '{name}'"

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


def start_announcer(daemon: Daemon, config: Config) -> MdnsAnnouncer:
    """An announcer for ``daemon``; the daemon starts it once it is ready to serve."""
    return MdnsAnnouncer(daemon, config)
