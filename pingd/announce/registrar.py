"""Registering pingd in a DNS domain by RFC 2136 dynamic update, signed with TSIG.

A thread of its own does the talking, so a slow or absent DNS server never delays a PONG:
it finds the zone the domain lives in (as nsupdate does: the SOA), adds the records
(``pingd.announce.dnssd``), puts them back every ``REFRESH`` seconds (a zone restored from a file,
or records an operator deleted, come back), and removes them when pingd stops cleanly.
A failure is logged once, in one line that says what to fix; pingd serves on, retries
with a growing pause, and says in its status that it is not registered. Success after a
failure is logged too; a refresh that changes nothing is not. Whatever goes wrong in the
thread, foreseen or not (a bug, an answer nothing here expected), is such a failure: the
thread never dies, and the status never stays "registering".

The server's answers are read as a hostile server might write them: only records of class IN
count, and a record is read only once it is known to be the type it says.

Stopping is bounded: the thread is called off mid-exchange (``pingd.announce.dnsquery``) and looks at
the stop flag between exchanges, and the goodbye removal has one timeout; ``close()`` takes at
most ``JOIN + timeout`` seconds (2.5 s by default) against a server that never answers.

An instance name another daemon holds in the domain (its SRV is there, with another host)
is not taken over: pingd registers as ``name-2`` (``-3``, …), as mDNS renames, and says so.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsig

from pingd.announce import dnsquery, dnssd
from pingd.announce.announcement import Announcement
from pingd.announce.dnssd import ServiceRecords
from pingd.config import DNS_PORT
from pingd.shared.addresses import host_port

log = logging.getLogger("pingd")

#: Seconds between refreshes while registered (the records' TTL: a cache never holds a
#: copy older than the one on the server by more than a refresh).
REFRESH = dnssd.TTL
#: Seconds to wait for the DNS server's answer to one message.
TIMEOUT = 2.0
#: The first retry after a failure; each next one waits twice as long, up to REFRESH.
FIRST_RETRY = 1.0
#: Names tried after the one asked for (``name-2`` … ``name-20``) when it is taken.
MAX_RENAMES = 19
#: Seconds ``close()`` waits for the thread to end. It is called off at once mid-exchange;
#: only a lookup through the system's resolver (before anything is registered) cannot be.
JOIN = 0.5


class RegistrationError(Exception):
    """One failed exchange with the DNS server; the message is the log line's reason."""


class DnsRegistrar:
    """An announcer (``start``/``describe``/``close``) for one DNS domain."""

    def __init__(
        self,
        records: ServiceRecords,
        server: tuple[str, int] | None,
        key: dns.tsig.Key | None,
        key_file: Path | None = None,
        *,
        refresh: float = REFRESH,
        timeout: float = TIMEOUT,
    ) -> None:
        self._records = records
        self._wanted = records.instance_label
        self._server_given = server
        self._server: tuple[str, int] | None = None  # an address, once found
        self._zone: dns.name.Name | None = None
        self._key = key
        self._key_file = key_file
        self._refresh = refresh
        self._timeout = timeout
        self._registered = False
        self._in_flight: ServiceRecords | None = None  # sent in an update not (yet) answered
        self._failure: str | None = None
        self._stop = threading.Event()
        self._waker = dnsquery.Waker()  # wakes an exchange in progress when close() is called
        self._thread = threading.Thread(target=self._run, name="pingd-dns", daemon=True)
        self._domain = records.domain.to_text(omit_final_dot=True)
        self._state = f"DNS: registering in {self._domain}"

    def describe(self) -> str:
        return self._state

    @property
    def registered(self) -> bool:
        return self._registered

    def start(self) -> None:
        try:
            self._thread.start()
        except RuntimeError as exc:  # no thread to be had (the unit's TasksMax, say)
            self._failed(f"cannot start its thread: {exc}")

    def close(self) -> None:
        """Stop the thread, mid-exchange if need be, and remove the records if they may be in
        the zone: registered, or sent in an update whose answer never came. At most ``JOIN``
        plus the timeout; never raises (pingd's shutdown goes on)."""
        self._stop.set()
        self._waker.wake()
        if self._thread.is_alive():
            self._thread.join(JOIN)
        if not self._thread.is_alive():
            self._waker.close()
        try:
            self._goodbye()
        except Exception as exc:
            log.warning("DNS: could not remove '%s' from %s: %s", self._records.instance_label, self._domain,
                        _unexpected(exc))  # fmt: skip

    def _goodbye(self) -> None:
        registered = self._registered
        records = self._records if registered else self._in_flight
        self._registered, self._in_flight = False, None
        if records is None or self._zone is None:
            return
        label = records.instance_label
        try:
            update = dnssd.remove_update(self._zone, records)
            rcode = self._exchange(update, ok=("NOERROR", "NXRRSET"), stoppable=False)
        except RegistrationError as exc:
            log.warning("DNS: could not remove '%s' from %s: %s", label, self._domain, exc)
            return
        if rcode == "NOERROR":
            log.info("DNS: removed '%s' from %s", label, self._domain)
        elif registered:  # NXRRSET: the name is no longer this daemon's (an update sent but never answered
            # may simply not have been applied: nothing to say then)
            log.warning("DNS: could not remove '%s' from %s: it is no longer this daemon's (NXRRSET)", label,
                        self._domain)  # fmt: skip

    # -- the thread ----------------------------------------------------------------------------

    def _run(self) -> None:
        retry = FIRST_RETRY
        while not self._stop.is_set():
            try:
                self._register_or_refresh()
            except dnsquery.Interrupted:  # close() called it off; close() says goodbye
                return
            except RegistrationError as exc:
                reason: str | None = str(exc)
            except Exception as exc:  # a bug, or an answer nothing here foresaw: a failure like any other
                log.debug("DNS: unexpected failure", exc_info=True)
                reason = _unexpected(exc)
            else:
                reason = None
            if reason is None:
                pause, retry = self._refresh, FIRST_RETRY
            else:
                self._failed(reason)
                pause, retry = retry, min(retry * 2, self._refresh)
            self._stop.wait(pause)

    def _register_or_refresh(self) -> None:
        if self._zone is None:
            self._server = self._server or self._find_server()
            self._zone = self._find_zone()
        if self._registered:
            rcode = self._exchange(dnssd.refresh_update(self._zone, self._records), ok=("NOERROR", "NXRRSET"))
            if rcode == "NOERROR":
                return
            self._registered = False  # gone from the zone (deleted, or the zone reloaded): register again
            log.warning(
                "DNS: '%s' was no longer in %s; registering it again", self._records.instance_label, self._domain
            )
        self._register()

    def _register(self) -> None:
        assert self._zone is not None
        for attempt in range(MAX_RENAMES + 1):
            label = self._wanted if attempt == 0 else f"{self._wanted}-{attempt + 1}"
            records = self._records.renamed(label)
            rcode = self._exchange(
                dnssd.register_update(self._zone, records, take_over=False), ok=("NOERROR", "YXRRSET"), sent=records
            )
            if rcode == "YXRRSET":  # the name has an SRV: ours from an earlier run, or another daemon's
                holder = self._holder(records)
                if holder != records.host:
                    log.info("DNS: '%s' in %s is held by %s", label, self._domain, holder or "another daemon")
                    continue
                self._exchange(dnssd.register_update(self._zone, records, take_over=True), sent=records)
            self._records = records
            self._registered_as(label)
            return
        raise RegistrationError(f"'{self._wanted}' and {MAX_RENAMES} names after it are taken; choose --name")

    def _registered_as(self, label: str) -> None:
        self._failure = None
        addresses = ", ".join(self._records.addresses)
        assert self._server is not None
        where = f"{_endpoint(self._server)}, zone {self._zone.to_text(omit_final_dot=True) if self._zone else '?'}"
        if label != self._wanted:
            log.warning(
                "DNS: '%s' is taken in %s; registered as '%s' (%s, port %d, via %s)",
                self._wanted, self._domain, label, addresses, self._records.port, where,
            )  # fmt: skip
        else:
            log.info("DNS: registered '%s' in %s (%s, port %d, via %s)", label, self._domain, addresses,
                     self._records.port, where)  # fmt: skip
        self._state = f"DNS: registered as '{label}' in {self._domain}"
        self._registered = True  # last: whoever sees it set sees the state above too

    def _failed(self, reason: str) -> None:
        if reason != self._failure:
            log.warning("DNS: not registered in %s: %s; serving on, and retrying", self._domain, reason)
        else:
            log.debug("DNS: still not registered in %s: %s", self._domain, reason)
        self._failure = reason
        self._state = f"DNS: not registered in {self._domain} ({reason})"

    # -- exchanges with the server ---------------------------------------------------------------

    def _find_server(self) -> tuple[str, int]:
        """The server given (a name is resolved here), else the zone's primary from its SOA
        (MNAME), found through the system's resolver, as nsupdate does."""
        if self._server_given is not None:
            host, port = self._server_given
            return _address_of(host), port
        import dns.resolver  # only here: the stub resolver is not needed with --dns-server

        try:  # class IN, both: the resolver reads no record of another class
            zone = dns.resolver.zone_for_name(self._records.domain, dns.rdataclass.IN, lifetime=self._timeout)
            soa = dns.resolver.resolve(zone, "SOA", dns.rdataclass.IN, lifetime=self._timeout)
        except dns.exception.DNSException as exc:
            raise RegistrationError(
                f"cannot find the zone's primary server through the resolver ({exc}); give --dns-server"
            ) from None
        primary = next((getattr(rdata, "mname", None) for rdata in soa.rrset or ()), None)
        if not isinstance(primary, dns.name.Name) or primary == dns.name.root:  # "." is legal, and names none
            raise RegistrationError("the zone's SOA names no primary server; give --dns-server")
        return _address_of(primary.to_text(omit_final_dot=True)), DNS_PORT

    def _find_zone(self) -> dns.name.Name:
        """The zone the domain is in: the SOA the server names for it."""
        domain = self._records.domain
        response = self._send(dns.message.make_query(domain, "SOA"))
        rcode = dns.rcode.to_text(response.rcode())
        if rcode not in ("NOERROR", "NXDOMAIN"):
            raise RegistrationError(
                f"{_endpoint(self._server)} answered {rcode} when asked for the zone of {self._domain}"
            )
        for rrset in _of_type((*response.answer, *response.authority), dns.rdatatype.SOA):
            if domain.is_subdomain(rrset.name):
                return rrset.name
        raise RegistrationError(f"{_endpoint(self._server)} does not serve {self._domain} (no SOA); check --dns-server")

    def _holder(self, records: ServiceRecords) -> dns.name.Name | None:
        """The host an instance name's SRV points at, on the server itself (None if the answer
        holds no such SRV of class IN)."""
        response = self._send(dns.message.make_query(records.instance, "SRV"))
        for rrset in _of_type(response.answer, dns.rdatatype.SRV):
            if rrset.name == records.instance:
                for rdata in rrset:
                    target = getattr(rdata, "target", None)
                    if isinstance(target, dns.name.Name):
                        return target
        return None

    def _exchange(
        self,
        update: dns.message.Message,
        ok: tuple[str, ...] = ("NOERROR",),
        *,
        sent: ServiceRecords | None = None,
        stoppable: bool = True,
    ) -> str:
        """Sign and send an update; its rcode if one of ``ok``, else a RegistrationError.
        ``sent``: the records it adds, which may be in the zone until an answer says."""
        if self._key is not None:
            update.use_tsig(self._key)
        if sent is not None:
            self._in_flight = sent
        response = self._send(update, stoppable=stoppable)
        if sent is not None:
            self._in_flight = None
        rcode = dns.rcode.to_text(response.rcode())
        if rcode in ok:
            return rcode
        raise RegistrationError(self._explain(rcode))

    def _send(self, message: dns.message.Message, *, stoppable: bool = True) -> dns.message.Message:
        """One exchange; ``stoppable`` ones are not begun once close() is called, and are
        called off by it (``dnsquery.Interrupted``)."""
        assert self._server is not None
        if stoppable and self._stop.is_set():
            raise dnsquery.Interrupted
        where = _endpoint(self._server)
        key = f"key '{self._key.name.to_text(omit_final_dot=True)}'" if self._key is not None else "no key"
        source = f" from {self._key_file}" if self._key_file else ""
        try:
            response = dnsquery.exchange(message, self._server, self._timeout, self._waker if stoppable else None)
        except dns.exception.Timeout:
            raise RegistrationError(f"no answer from {where} within {self._timeout:g} s") from None
        except dns.tsig.PeerBadKey:
            raise RegistrationError(f"{where} does not know {key}{source} (BADKEY): check the key's name") from None
        except dns.tsig.PeerBadSignature:
            raise RegistrationError(
                f"{where} rejected the signature made with {key}{source} (BADSIG): its secret is not the server's"
            ) from None
        except dns.tsig.PeerBadTime:
            raise RegistrationError(
                f"{where} rejected the signature's time (BADTIME): check this host's clock"
            ) from None
        except OSError as exc:
            raise RegistrationError(f"cannot reach {where}: {exc.strerror or exc}") from None
        except dns.exception.DNSException as exc:
            raise RegistrationError(f"{where}: {exc}") from None
        return response

    def _explain(self, rcode: str) -> str:
        where = _endpoint(self._server)
        zone = self._zone.to_text(omit_final_dot=True) if self._zone is not None else self._domain
        if rcode == "REFUSED":
            signed = "updates signed with this key" if self._key is not None else "unsigned updates (give --dns-key)"
            return f"{where} refused the update (REFUSED): the zone {zone} does not accept {signed}"
        if rcode == "NOTAUTH":
            return f"{where} is not authoritative for {zone} (NOTAUTH): check --dns-server"
        if rcode == "NOTZONE":
            return f"{where} says the records are outside zone {zone} (NOTZONE)"
        return f"{where} answered {rcode}"


def _address_of(host: str) -> str:
    """``host``'s address (quoted in messages as is: a name's text from dnspython is escaped)."""
    try:
        return str(socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)[0][4][0])
    except OSError as exc:
        raise RegistrationError(f"cannot resolve DNS server '{host}': {exc.strerror or exc}") from None
    except ValueError:  # UnicodeError from the IDNA codec: an empty or over-long label
        raise RegistrationError(f"cannot resolve DNS server '{host}': not a host name") from None


def _of_type(section: Iterable[dns.rrset.RRset], rdtype: dns.rdatatype.RdataType) -> Iterator[dns.rrset.RRset]:
    """The RRsets of ``rdtype`` and class IN: a record of another class (CH, HS) is no answer
    here, and its data is not even parsed as the type it claims (dnspython leaves it generic)."""
    return (rrset for rrset in section if rrset.rdclass == dns.rdataclass.IN and rrset.rdtype == rdtype)


def _unexpected(exc: Exception) -> str:
    """An exception nothing foresaw, as a log line's reason."""
    return f"unexpected {type(exc).__name__}: {exc}" if str(exc) else f"unexpected {type(exc).__name__}"


def registrar_for(
    announcement: Announcement,
    listening: tuple[str, ...],
    domain: str,
    server: tuple[str, int] | None,
    key_file: Path | None,
) -> DnsRegistrar:
    """A registrar from pingd's settings (validated by the config layer; the key file is read
    here, and a DnsSettingError says what is wrong with it)."""
    records = dnssd.records_for(announcement, dnssd.domain_name(domain), dnssd.routable_addresses(listening))
    key = dnssd.read_key(key_file) if key_file is not None else None
    return DnsRegistrar(records, server, key, key_file)


def _endpoint(server: tuple[str, int] | None) -> str:
    return "the DNS server" if server is None else host_port(*server)
