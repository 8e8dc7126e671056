"""Announcing pingd on the LAN: a DNS-SD service ``_pingd._tcp.local.`` over mDNS.

zeroconf runs its own asyncio loop in a thread; registration (which probes the name for
about a second) is scheduled on that loop with its asyncio API and never delays readiness:
pingd serves by address from the first moment and becomes discoverable once the probe ends.
A name already taken is renamed (``box`` → ``box-2``) and logged. Failure to start mDNS is
logged and pingd keeps serving by address; a registration that fails is logged and retried.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from pingd.announce import sieve
from pingd.announce.announcement import FIRST_RETRY, MAX_RETRY, Announcement, announced_addresses
from pingd.shared import addresses as addressing
from pingd.shared import service
from pingd.shared.service import SERVICE_TYPE

log = logging.getLogger("pingd")


class MdnsAnnouncer:
    """Registers ``announcement`` over mDNS, without delaying readiness, and says goodbye.

    A name taken on the network is renamed by zeroconf; ``on_renamed`` is then called with the
    new name, from zeroconf's thread: the daemon hands it to its own loop, the one thread that
    owns the actor.

    What runs on zeroconf's thread (the registration's outcome, ``on_renamed``, a retry) never
    lets an exception go: any failure is one log line, the status says "not announced (why)",
    and a failed registration is tried again after a growing pause.
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
        self._addresses: list[str] = []
        self._info: Any = None
        self._future: Future | None = None
        self._retry = FIRST_RETRY
        self._failure: str | None = None
        self._closed = False
        self._state = "mDNS: starting"
        self._cached_labels: tuple[str, tuple[bytes, ...]] = ("", ())

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
        from zeroconf import Zeroconf

        quiet_library_logs()
        self._addresses = announced_addresses(self._announcement.listening, self._interfaces)
        self._zeroconf = Zeroconf(interfaces=list(self._interfaces or _multicast_interfaces()))
        self._state = f"mDNS: registering '{self._announcement.name}'"
        log.info("announcing '%s' over mDNS with %s", self._announcement.name, ", ".join(self._addresses))
        asyncio.run_coroutine_threadsafe(sieve.install(self._zeroconf, self._labels), self._zeroconf.loop)
        self._register()

    def _labels(self) -> tuple[bytes, ...]:
        """zeroconf's thread: the labels of pingd's own names (the instance's as registered or
        renamed, and the host's), which a response must hold to be read at all."""
        info, a = self._info, self._announcement
        instance = info.name.removesuffix(f".{SERVICE_TYPE}") if info is not None else a.name
        if self._cached_labels[0] != instance:
            host = service.host_label(a.node_id)
            self._cached_labels = (instance, (sieve.wire_label(instance), sieve.wire_label(host)))
        return self._cached_labels[1]

    def _register(self) -> None:
        """Schedule the registration on zeroconf's loop, with a ServiceInfo of its own (a failed
        attempt may have renamed the last one)."""
        from zeroconf import ServiceInfo

        a = self._announcement
        self._info = ServiceInfo(
            SERVICE_TYPE,
            f"{a.name}.{SERVICE_TYPE}",
            port=a.port,
            addresses=[socket.inet_pton(addressing.family(address), address) for address in self._addresses],
            properties=service.txt_records(a.node_id, a.public_key),
            server=f"{service.host_label(a.node_id)}.local.",
        )
        coro = self._zeroconf.async_register_service(self._info, allow_name_change=True)
        self._future = asyncio.run_coroutine_threadsafe(coro, self._zeroconf.loop)
        self._future.add_done_callback(self._registered)

    def _registered(self, future: Future) -> None:
        """zeroconf's thread: the registration's outcome. Nothing raised here gets out:
        concurrent.futures would log it with a traceback, and the status stay "registering"."""
        try:
            self._outcome(future)
        except Exception as exc:
            reason = _reason(exc)
            log.warning("mDNS: unexpected failure while announcing: %s", reason)
            if not self._state.startswith("mDNS: announced"):
                self._state = f"mDNS: not announced ({reason})"

    def _outcome(self, future: Future) -> None:
        if future.cancelled() or self._closed:
            return
        exc = future.exception()
        if exc is not None:
            self._failed(exc)
        else:
            self._announced(self._info.name.removesuffix(f".{SERVICE_TYPE}"))

    def _announced(self, name: str) -> None:
        self._state = f"mDNS: announced as '{name}'"
        self._retry, self._failure = FIRST_RETRY, None
        requested = self._announcement.name
        if name == requested:
            log.info("announced as '%s'", name)
            return
        log.warning("mDNS name '%s' is taken on this network; announced as '%s'", requested, name)
        try:
            self._on_renamed(name)
        except Exception as exc:  # announced all the same; only the daemon's own record of its name is stale
            log.warning("mDNS: announced as '%s', but pingd could not take the new name: %s", name, _reason(exc))

    def _failed(self, exc: BaseException) -> None:
        """One line (the same reason again only at debug), the status, and a retry later."""
        reason = _reason(exc)
        pause, self._retry = self._retry, min(self._retry * 2, MAX_RETRY)
        if reason != self._failure:
            log.warning("mDNS registration failed: %s; serving by address, and retrying", reason)
        else:
            log.debug("mDNS registration failed again: %s", reason)
        self._failure = reason
        self._state = f"mDNS: not announced ({reason})"
        try:
            loop = self._zeroconf.loop
            loop.call_soon_threadsafe(loop.call_later, pause, self._retry_now)
        except Exception as exc:  # zeroconf closed meanwhile (pingd stopping), or its loop is gone
            log.debug("mDNS: no retry: %s", _reason(exc))

    def _retry_now(self) -> None:
        """zeroconf's thread: register again, unless pingd is stopping."""
        if self._closed:
            return
        try:
            self._register()
        except Exception as exc:
            self._failed(exc)

    def close(self) -> None:
        """Unregister (goodbye packets, so browsers drop us at once) and stop zeroconf."""
        self._closed = True
        if self._future is not None and not self._future.done():
            self._future.cancel()
        if self._zeroconf is not None:
            _stop_listening(self._zeroconf)
            try:
                self._zeroconf.close()  # unregisters all services first
            except Exception as exc:
                log.warning("mDNS shutdown: %s", exc)
            self._zeroconf = None


def _stop_listening(zc: Any) -> None:
    """Stop reading mDNS before the goodbyes: a daemon on its way out answers no one, and on a
    link of hundreds of responders stopped together, each would otherwise parse every other's
    goodbyes (3 each) before its own were sent. Sending is unaffected."""

    def pause() -> None:
        for reader in zc.engine.readers:
            reader.transport.pause_reading()

    try:
        zc.loop.call_soon_threadsafe(pause)
    except Exception as exc:  # no loop any more: nothing is being read
        log.debug("mDNS: not paused: %s", _reason(exc))


def _reason(exc: BaseException) -> str:
    """An exception as a log line's reason: its text, or its type when it has none (zeroconf's
    NonUniqueNameException says nothing), with the type when it is not an OSError."""
    text = str(exc)
    if isinstance(exc, OSError) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _multicast_interfaces() -> list[str]:
    """Every address that can carry mDNS; each one that cannot is named once, at info level."""
    from pingd.host.netinfo import mdns_interfaces

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
