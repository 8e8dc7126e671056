"""Registering pingd in a DNS domain by RFC 2136 dynamic update, signed with TSIG.

A thread of its own does the talking, so a slow or absent DNS server never delays a PONG:
it finds the zone the domain lives in (as nsupdate does: the SOA), adds the records
(``pingd.dnssd``), puts them back every ``REFRESH`` seconds (a zone restored from a file,
or records an operator deleted, come back), and removes them when pingd stops cleanly.
A failure is logged once, in one line that says what to fix; pingd serves on, retries
with a growing pause, and says in its status that it is not registered. Success after a
failure is logged too; a refresh that changes nothing is not.

An instance name another daemon holds in the domain (its SRV is there, with another host)
is not taken over: pingd registers as ``name-2`` (``-3``, …), as mDNS renames, and says so.
"""

from __future__ import annotations

import logging
import socket
import threading
from pathlib import Path

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig

from pingd import dnssd
from pingd.announce import Announcement
from pingd.config import DNS_PORT
from pingd.dnssd import ServiceRecords

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
        self._failure: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pingd-dns", daemon=True)
        self._domain = records.domain.to_text(omit_final_dot=True)
        self._state = f"DNS: registering in {self._domain}"

    def describe(self) -> str:
        return self._state

    @property
    def registered(self) -> bool:
        return self._registered

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Stop refreshing; remove the records if they are registered (bounded by the timeout)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(self._timeout * 3)
        if not self._registered or self._zone is None:
            return
        try:
            self._exchange(dnssd.remove_update(self._zone, self._records))
        except RegistrationError as exc:
            log.warning("DNS: could not remove '%s' from %s: %s", self._records.instance_label, self._domain, exc)
        else:
            log.info("DNS: removed '%s' from %s", self._records.instance_label, self._domain)
        self._registered = False

    # -- the thread ----------------------------------------------------------------------------

    def _run(self) -> None:
        retry = FIRST_RETRY
        while not self._stop.is_set():
            try:
                self._register_or_refresh()
            except RegistrationError as exc:
                self._failed(str(exc))
                pause, retry = retry, min(retry * 2, self._refresh)
            else:
                pause, retry = self._refresh, FIRST_RETRY
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
                dnssd.register_update(self._zone, records, take_over=False), ok=("NOERROR", "YXRRSET")
            )
            if rcode == "YXRRSET":  # the name has an SRV: ours from an earlier run, or another daemon's
                holder = self._holder(records)
                if holder != records.host:
                    log.info("DNS: '%s' in %s is held by %s", label, self._domain, holder or "another daemon")
                    continue
                self._exchange(dnssd.register_update(self._zone, records, take_over=True))
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

        try:
            zone = dns.resolver.zone_for_name(self._records.domain, lifetime=self._timeout)
            soa = dns.resolver.resolve(zone, "SOA", lifetime=self._timeout)
            primary = soa[0].mname.to_text(omit_final_dot=True)
        except dns.exception.DNSException as exc:
            raise RegistrationError(
                f"cannot find the zone's primary server through the resolver ({exc}); give --dns-server"
            ) from None
        return _address_of(primary), DNS_PORT

    def _find_zone(self) -> dns.name.Name:
        """The zone the domain is in: the SOA the server names for it."""
        domain = self._records.domain
        response = self._send(dns.message.make_query(domain, "SOA"))
        rcode = dns.rcode.to_text(response.rcode())
        if rcode not in ("NOERROR", "NXDOMAIN"):
            raise RegistrationError(
                f"{_endpoint(self._server)} answered {rcode} when asked for the zone of {self._domain}"
            )
        for rrset in (*response.answer, *response.authority):
            if rrset.rdtype == dns.rdatatype.SOA and domain.is_subdomain(rrset.name):
                return rrset.name
        raise RegistrationError(f"{_endpoint(self._server)} does not serve {self._domain} (no SOA); check --dns-server")

    def _holder(self, records: ServiceRecords) -> dns.name.Name | None:
        """The host an instance name's SRV points at, on the server itself."""
        response = self._send(dns.message.make_query(records.instance, "SRV"))
        for rrset in response.answer:
            if rrset.rdtype == dns.rdatatype.SRV:
                return next(iter(rrset)).target
        return None

    def _exchange(self, update, ok: tuple[str, ...] = ("NOERROR",)) -> str:
        """Sign and send an update; its rcode if one of ``ok``, else a RegistrationError."""
        if self._key is not None:
            update.use_tsig(self._key)
        response = self._send(update)
        rcode = dns.rcode.to_text(response.rcode())
        if rcode in ok:
            return rcode
        raise RegistrationError(self._explain(rcode))

    def _send(self, message: dns.message.Message) -> dns.message.Message:
        assert self._server is not None
        address, port = self._server
        where = _endpoint(self._server)
        key = f"key '{self._key.name.to_text(omit_final_dot=True)}'" if self._key is not None else "no key"
        source = f" from {self._key_file}" if self._key_file else ""
        try:
            response, _ = dns.query.udp_with_fallback(message, address, timeout=self._timeout, port=port)
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
    try:
        return str(socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)[0][4][0])
    except OSError as exc:
        raise RegistrationError(f"cannot resolve DNS server {host!r}: {exc.strerror or exc}") from None


def _endpoint(server: tuple[str, int] | None) -> str:
    if server is None:
        return "the DNS server"
    address, port = server
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


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
