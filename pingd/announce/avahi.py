"""Announcing pingd through avahi-daemon, where the host already runs it: the same DNS-SD
records as pingd's own responder, published in an Avahi entry group over D-Bus — as CUPS and
Samba do — so the host keeps one mDNS responder (RFC 6762 §15) and pingd opens no mDNS socket.

One thread owns the system bus connection. It publishes, then sleeps until Avahi or the bus
says something — the group established or in collision, the server's state, Avahi leaving
the bus or coming back (``NameOwnerChanged``) — or a retry falls due. Avahi gone means
serving by address, said once, and publishing again the moment its name reappears.
``close`` wakes the thread, which frees the group (Avahi sends the goodbyes) before the
connection closes.

Signals are believed only from the bus itself and from the unique name that owns Avahi's
well-known name: any local program may emit a signal that claims to be Avahi's.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from pingd.announce.announcement import FIRST_RETRY, MAX_RETRY, Announcement, announced_addresses, renamed
from pingd.shared import service

log = logging.getLogger("pingd")

AVAHI = "org.freedesktop.Avahi"
SERVER_INTERFACE = "org.freedesktop.Avahi.Server"
GROUP_INTERFACE = "org.freedesktop.Avahi.EntryGroup"
BUS_NAME = "org.freedesktop.DBus"
#: Avahi's constants (avahi-common/defs.h).
IF_UNSPEC, PROTO_UNSPEC, PROTO_INET, PROTO_INET6 = -1, -1, 0, 1
PUBLISH_NO_REVERSE = 16  # the host's own name keeps its reverse (PTR) records
SERVER_REGISTERING, SERVER_RUNNING, SERVER_COLLISION, SERVER_FAILURE = 1, 2, 3, 4
GROUP_ESTABLISHED, GROUP_COLLISION, GROUP_FAILURE = 2, 3, 4
LOCAL_COLLISION = "org.freedesktop.Avahi.CollisionError"
#: Names tried after the one asked for (``name-2`` … ``name-20``) when it is taken.
MAX_RENAMES = 19
#: Seconds the last call (Free, as pingd stops) may take: Avahi answers in milliseconds, and a
#: hung Avahi must not hold up a stop.
LAST_CALL = 0.5
#: Seconds ``close`` waits for the thread: the last call, with room to spare.
JOIN = 2.0
#: A lost system bus is looked for again after BUS_RETRY seconds, then twice as long each time
#: up to MAX_BUS_RETRY: a connection attempt costs next to nothing, and Avahi carries pingd
#: again within seconds of the bus's return.
BUS_RETRY = 0.25
MAX_BUS_RETRY = 4.0
#: Seconds ``auto`` gives the bus to say whether Avahi is there (readiness waits for it).
PROBE = 1.0


class NothingToPublish(Exception):
    """No address of the announcement can be published through Avahi; the message says why."""


class AvahiAnnouncer:
    """Publishes ``announcement`` through avahi-daemon; ``on_renamed`` gets a new name when
    the one asked for is taken (called from the announcer's thread)."""

    def __init__(
        self,
        announcement: Announcement,
        interfaces: tuple[str, ...] = (),
        on_renamed: Callable[[str], None] = lambda name: None,
        connect: Callable[[], Any] | None = None,
        indexes: Callable[[], dict[str, int]] | None = None,
    ) -> None:
        self._announcement = announcement
        self._interfaces = interfaces
        self._on_renamed = on_renamed
        self._connect = connect
        self._indexes = indexes
        self._state = "mDNS: starting (through avahi-daemon)"
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # guards _bus against close() while the thread ends
        self._closing = threading.Event()
        self._bus: Any = None
        self._owner: str | None = None  # Avahi's unique name on the bus, while it runs
        self._group: str | None = None  # our entry group's object path
        self._attempt = 0  # collisions so far: the name is renamed(requested, attempt)
        self._retry = FIRST_RETRY
        self._retry_at: float | None = None  # when a failed publication is tried again (monotonic)
        self._said: str | None = None  # the last problem logged, so each is logged once

    def describe(self) -> str:
        return self._state

    @property
    def name(self) -> str:
        return renamed(self._announcement.name, self._attempt)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="pingd-avahi", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Free the entry group (browsers drop pingd at once) and end the thread."""
        self._closing.set()
        with self._lock:
            if self._bus is not None:
                self._bus.interrupt()
        if self._thread is not None:
            self._thread.join(JOIN)

    # -- the announcer's thread -----------------------------------------------------------------

    def _run(self) -> None:
        from pingd.announce import sysbus

        pause = BUS_RETRY
        while not self._closing.is_set():
            try:
                bus = (self._connect or sysbus.SystemBus.open)()
            except sysbus.Refused as exc:
                self._trouble(str(exc))
            except Exception as exc:  # no bus socket, timed out
                self._trouble(f"no system bus: {_reason(exc)}")
            else:
                pause = BUS_RETRY
                with self._lock:
                    self._bus = bus
                try:
                    self._serve(bus)
                except sysbus.Interrupted:
                    pass
                except TimeoutError as exc:  # Avahi (or the bus) hung: says which
                    self._trouble(str(exc))
                except Exception as exc:  # the bus went away, or answered nonsense
                    self._trouble(f"system bus: {_reason(exc)}")
                finally:
                    self._leave(bus)
            if self._closing.wait(pause):
                return
            pause = min(pause * 2, MAX_BUS_RETRY)

    def _serve(self, bus: Any) -> None:
        from jeepney import MatchRule

        from pingd.announce import sysbus

        bus.subscribe(
            MatchRule(type="signal", sender=BUS_NAME, member="NameOwnerChanged", path="/org/freedesktop/DBus")
        )
        bus.subscribe(MatchRule(type="signal", interface=SERVER_INTERFACE, member="StateChanged"))
        bus.subscribe(MatchRule(type="signal", interface=GROUP_INTERFACE, member="StateChanged"))
        self._came(bus, bus.owner_of(AVAHI))
        while not self._closing.is_set():
            wait = None if self._retry_at is None else max(0.0, self._retry_at - time.monotonic())
            signal = bus.next_signal(wait)
            if signal is None:  # a retry fell due
                self._retry_at = None
                self._publish(bus)
                continue
            fields = signal.header.fields
            self._on_signal(bus, sysbus.sender_of(signal), fields, sysbus.body_of(signal))

    def _on_signal(self, bus: Any, sender: str | None, fields: dict, body: tuple) -> None:
        from jeepney import HeaderFields

        member, interface = fields.get(HeaderFields.member), fields.get(HeaderFields.interface)
        if member == "NameOwnerChanged" and interface == BUS_NAME:
            if sender == BUS_NAME and len(body) == 3 and body[0] == AVAHI:
                self._came(bus, body[2] or None)
            return
        if sender is None or sender != self._owner or not body or not isinstance(body[0], int):
            return  # not from the Avahi we know: ignored
        if interface == SERVER_INTERFACE:
            self._server_state(bus, body[0])
        elif interface == GROUP_INTERFACE and fields.get(HeaderFields.path) == self._group:
            self._group_state(bus, body[0], str(body[1]) if len(body) > 1 else "")

    def _came(self, bus: Any, owner: str | None) -> None:
        """Avahi's name has a new owner (or none): whatever group we had is gone with the old."""
        self._owner, self._group, self._retry_at = owner, None, None
        if owner is None:
            self._trouble("avahi-daemon is not running")
            return
        state = bus.call(_server(), "GetState")[0]
        self._server_state(bus, state)

    def _server_state(self, bus: Any, state: int) -> None:
        """Avahi's own state. pingd's records name a host of pingd's own (``pingd-<node id>``),
        not Avahi's, so they stay while Avahi probes its host name again; they are published
        as soon as Avahi is registering — its probe and pingd's run together, and a restarted
        Avahi carries pingd again within a second of appearing on the bus."""
        if state == SERVER_FAILURE:
            self._free(bus)
            self._trouble("avahi-daemon failed")
        elif self._group is None and self._retry_at is None:  # else a failed one waits for its retry
            self._publish(bus)

    def _group_state(self, bus: Any, state: int, error: str) -> None:
        if state == GROUP_ESTABLISHED:
            self._announced()
        elif state == GROUP_COLLISION:
            self._collided(bus)
        elif state == GROUP_FAILURE:
            self._failed(bus, error or "the entry group failed")

    # -- publishing -----------------------------------------------------------------------------

    def _publish(self, bus: Any) -> None:
        """A new entry group with the service and its addresses, committed; a name another
        client of this Avahi holds is renamed at once (Avahi says so before any probe)."""
        from pingd.announce.sysbus import BusError

        self._free(bus)
        while True:
            try:
                self._group = str(bus.call(_server(), "EntryGroupNew")[0])
                self._add_entries(bus, self._group)
                bus.call(_group(self._group), "Commit")
            except BusError as exc:
                if exc.name == LOCAL_COLLISION:
                    self._free(bus)
                    if self._attempt < MAX_RENAMES:
                        self._attempt += 1
                        continue
                    self._every_name_taken(bus)
                    return
                self._failed(bus, _reason(exc))
                return
            except NothingToPublish as exc:
                self._failed(bus, str(exc))
                return
            self._state = f"mDNS: registering '{self.name}' through avahi-daemon"
            return

    def _add_entries(self, bus: Any, group: str) -> None:
        a = self._announcement
        host = f"{service.host_label(a.node_id)}.local"
        txt = [f"{k}={v}".encode() for k, v in service.txt_records(a.node_id, a.public_key).items()]
        indexes = (self._indexes or _interface_indexes)()
        addresses = self._addresses(indexes)  # nothing to publish: said before anything is added
        for interface, protocol in self._service_scopes(indexes):
            bus.call(
                _group(group), "AddService", "iiussssqaay",
                (interface, protocol, 0, self.name, service.SERVICE, "", host, a.port, txt),
            )  # fmt: skip
        for address in addresses:
            # Over IPv4 and IPv6 mDNS alike, as pingd's own responder answers for its addresses.
            scope = indexes.get(address, IF_UNSPEC)
            bus.call(_group(group), "AddAddress", "iiuss", (scope, PROTO_UNSPEC, PUBLISH_NO_REVERSE, host, address))

    def _addresses(self, indexes: dict[str, int]) -> list[str]:
        """The addresses to publish: those of the announcement that this host has, never
        loopback (Avahi never sends on it, and a loopback address on the LAN is a lie);
        NothingToPublish if none is left."""
        wanted = announced_addresses(self._announcement.listening, self._interfaces)
        usable = [a for a in wanted if a in indexes and not ipaddress.ip_address(a).is_loopback]
        if usable:
            return usable
        if all(ipaddress.ip_address(a).is_loopback for a in wanted):
            raise NothingToPublish(
                "pingd listens on loopback only, which avahi-daemon never announces (use --mdns-backend zeroconf)"
            )
        raise NothingToPublish(f"no address to announce is on this host ({', '.join(wanted)})")

    def _service_scopes(self, indexes: dict[str, int]) -> list[tuple[int, int]]:
        """Where the service is published: on every interface (Avahi's choice), or only on the
        interfaces and address families --mdns-interface names."""
        if not self._interfaces:
            return [(IF_UNSPEC, PROTO_UNSPEC)]
        scopes = {(indexes.get(a, IF_UNSPEC), _protocol(a)) for a in self._interfaces}
        return sorted(scopes)

    def _announced(self) -> None:
        name, requested = self.name, self._announcement.name
        self._retry, self._said = FIRST_RETRY, None
        if name == requested:
            log.info("announced as '%s' through avahi-daemon", name)
        else:
            log.warning("mDNS name '%s' is taken on this network; announced as '%s'", requested, name)
            try:
                self._on_renamed(name)
            except Exception as exc:  # announced all the same; only the daemon's record of its name is stale
                log.warning("mDNS: announced as '%s', but pingd could not take the new name: %s", name, _reason(exc))
        self._state = f"mDNS: announced as '{name}' through avahi-daemon"

    def _collided(self, bus: Any) -> None:
        """Another responder on the link holds the name: the next one (``box-2``), as pingd's
        own responder does; past MAX_RENAMES, a failure retried later from the name asked for."""
        if self._attempt >= MAX_RENAMES:
            self._every_name_taken(bus)
            return
        self._attempt += 1
        self._publish(bus)

    def _every_name_taken(self, bus: Any) -> None:
        self._attempt = 0
        last = renamed(self._announcement.name, MAX_RENAMES)
        self._failed(bus, f"every name from '{self._announcement.name}' to '{last}' is taken")

    def _failed(self, bus: Any, reason: str) -> None:
        self._free(bus)
        self._trouble(reason)
        self._retry_at = time.monotonic() + self._retry
        self._retry = min(self._retry * 2, MAX_RETRY)

    def _trouble(self, reason: str) -> None:
        """Not announced, and why: always in the status; in the log once, until pingd is
        announced again (a bus lost, then refused, then back is one episode, one line; what
        follows within it is at debug)."""
        self._state = f"mDNS: not announced ({reason}; serving by address)"
        if self._said is None:
            log.warning("mDNS through avahi-daemon: %s; serving by address, and publishing when it can", reason)
            self._said = reason
        elif reason != self._said:
            log.debug("mDNS through avahi-daemon: %s", reason)

    def _free(self, bus: Any, timeout: float | None = None) -> None:
        group, self._group = self._group, None
        if group is not None and self._owner is not None:
            try:
                bus.call(_group(group), "Free", **({} if timeout is None else {"timeout": timeout}))
            except Exception as exc:  # Avahi gone meanwhile: the group went with it
                log.debug("mDNS: entry group not freed: %s", _reason(exc))

    def _leave(self, bus: Any) -> None:
        """The thread's last act on a connection: free the group (goodbyes), then close."""
        with self._lock:
            self._bus = None
        try:
            bus.resume()
            self._free(bus, LAST_CALL)
        except Exception as exc:
            log.debug("mDNS: leaving avahi-daemon: %s", _reason(exc))
        finally:
            bus.close()
        self._owner, self._group = None, None


def avahi_running() -> str | None:
    """None if avahi-daemon owns its name on the system bus, else why not (for ``auto``)."""
    from pingd.announce import sysbus

    try:
        bus = sysbus.SystemBus.open(PROBE)
    except sysbus.Refused as exc:
        return str(exc)
    except Exception as exc:
        return f"no system bus: {_reason(exc)}"
    try:
        return None if bus.has_owner(AVAHI, PROBE) else "avahi-daemon is not on the system bus"
    except Exception as exc:
        return f"system bus: {_reason(exc)}"
    finally:
        bus.close()


def _server() -> Any:
    from jeepney import DBusAddress

    return DBusAddress("/", bus_name=AVAHI, interface=SERVER_INTERFACE)


def _group(path: str) -> Any:
    from jeepney import DBusAddress

    return DBusAddress(path, bus_name=AVAHI, interface=GROUP_INTERFACE)


def _protocol(address: str) -> int:
    return PROTO_INET if ipaddress.ip_address(address).version == 4 else PROTO_INET6


def _interface_indexes() -> dict[str, int]:
    from pingd.host.netinfo import interface_indexes

    return interface_indexes()


def _reason(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return text or type(exc).__name__
