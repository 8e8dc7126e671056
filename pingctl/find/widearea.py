"""Finding pingd daemons in a DNS domain: DNS-SD over unicast DNS (RFC 6763), beyond the LAN.

``browse(domain)`` lists the daemons registered there: the PTR records of
``_pingd._tcp.<domain>``, then each instance's SRV and TXT (and its host's addresses, when
the server did not add them to the SRV answer), every instance at the same time. Nothing is
waited for beyond the answers: a domain answers in a few round trips.

``suggested_domains(search)`` are the domains the network suggests for browsing (RFC 6763
§11): the PTR records of ``b._dns-sd._udp`` and ``lb._dns-sd._udp`` under each of the
resolver's search domains.

Questions go to the system's name servers (``pingctl.find.resolvconf``) in order, as the C
library's resolver asks them; dnspython builds and reads every message (``exchange``).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from pingctl.errors import PingctlError
from pingctl.find import resolvconf
from pingctl.find.found import BadRecord, Browsed, Found, found_from
from pingctl.show.text import shown
from pingd.shared import addresses, service

#: Instances resolved at the same time: enough that a domain of a few thousand resolves within
#: the window from a nearby server (each instance costs two or three round trips).
MAX_PARALLEL = 64
#: Seconds to wait for one name server's answer before asking the next.
PER_SERVER = 1.0


class DnsBrowseError(PingctlError):
    """The domain could not be browsed: no name server answered."""


class OutOfTime(DnsBrowseError):
    """The deadline passed before a name server answered."""


class Resolver:
    """Asks the system's name servers, in order, until the monotonic ``deadline``."""

    def __init__(self, deadline: float, nameservers: tuple[str, ...] | None = None, port: int = 53) -> None:
        self.deadline = deadline
        self.nameservers = nameservers if nameservers is not None else resolvconf.read().nameservers
        self.port = port

    def ask(self, name: dns.name.Name, kind: str) -> dns.message.Message:
        """The first answer (NOERROR or NXDOMAIN) a name server gives; DnsBrowseError if none
        does (each failure, a timeout, REFUSED or SERVFAIL, passes to the next server)."""
        why = "no name server to ask (check /etc/resolv.conf)"
        for server in self.nameservers:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise OutOfTime(f"cannot look up {name.to_text(omit_final_dot=True)}: out of time")
            query = dns.message.make_query(name, kind)
            try:
                response = exchange(query, server, min(PER_SERVER, remaining), self.port)
            except TimeoutError:
                why = f"{server} did not answer in time"
                continue
            except (OSError, dns.exception.DNSException) as exc:
                why = f"{server}: {getattr(exc, 'strerror', None) or exc}"
                continue
            if response.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                return response
            why = f"{server} answered {dns.rcode.to_text(response.rcode())}"
        if self.deadline <= time.monotonic():
            raise OutOfTime(f"cannot look up {name.to_text(omit_final_dot=True)}: {why}")
        raise DnsBrowseError(f"cannot look up {name.to_text(omit_final_dot=True)}: {why}")

    def records(self, name: dns.name.Name, kind: str) -> tuple[list, dns.message.Message]:
        """The answer's records of type ``kind`` and class IN (after any CNAME the server
        followed). Records of another class (CH, HS, …) are not what was asked for: dnspython
        reads them as generic rdata with none of the fields, so they are dropped here."""
        response = self.ask(name, kind)
        return in_class_records(response.answer, dns.rdatatype.from_text(kind)), response


def in_class_records(
    section: Iterable[dns.rrset.RRset], rdtype: dns.rdatatype.RdataType, owner: dns.name.Name | None = None
) -> list:
    """The rdata of type ``rdtype`` and class IN in a message section (owned by ``owner``, if
    given); every other class and type left out."""
    return [
        rdata
        for rrset in section
        if rrset.rdtype == rdtype and rrset.rdclass == dns.rdataclass.IN and (owner is None or rrset.name == owner)
        for rdata in rrset
    ]


def exchange(query: dns.message.Message, server: str, timeout: float, port: int = 53) -> dns.message.Message:
    """Send ``query`` to ``server`` over UDP and return its answer (over TCP if it was
    truncated). The socket is connected: only that server's datagrams reach it, and a
    server with nothing on port 53 is known at once (ECONNREFUSED), not after the timeout.
    A datagram that is not the answer (garbage, another id) is ignored, as a resolver does.
    (dnspython's ``dns.query`` does the same, but loading it, and ssl with it, costs 15 ms
    of every pingctl start; it is loaded only for a truncated answer.)"""
    deadline = time.monotonic() + timeout
    with socket.socket(addresses.family(server), socket.SOCK_DGRAM) as sock:
        sock.connect((server, port))
        sock.send(query.to_wire())
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            sock.settimeout(remaining)
            try:
                response = dns.message.from_wire(sock.recv(65535), ignore_trailing=True)
            except dns.exception.DNSException:
                continue
            if query.is_response(response):
                break
    if response.flags & dns.flags.TC:
        import dns.query as dns_query

        response = dns_query.tcp(query, server, timeout=max(0.001, deadline - time.monotonic()), port=port)
    return response


def suggested_domains(search: list[str], deadline: float) -> list[str]:
    """The browse domains the network suggests (RFC 6763 §11) under the ``search`` domains, in
    the order found; [] when they suggest none or no name server answers."""
    r = Resolver(deadline)
    try:
        bases = [dns.name.from_text(d.rstrip(".") + ".") for d in search]
    except dns.exception.DNSException:
        return []
    questions = [dns.name.Name((label, *service.DNS_SD_LABELS)).concatenate(base)
                 for base in bases for label in service.BROWSE_LABELS]  # fmt: skip
    if not questions:
        return []

    def pointers(question: dns.name.Name) -> list[dns.name.Name]:
        try:
            return [rdata.target for rdata in r.records(question, "PTR")[0] if len(rdata.target) > 1]
        except DnsBrowseError:
            return []  # browse-domain questions never hold up mDNS discovery

    with ThreadPoolExecutor(max_workers=len(questions)) as pool:
        answers = list(pool.map(pointers, questions))
    return list(dict.fromkeys(d.to_text(omit_final_dot=True) for names in answers for d in names))


def browse(domain: str, deadline: float, resolver: Resolver | None = None) -> Browsed:
    """Every daemon registered in ``domain`` whose records resolve by ``deadline``; records
    that break the grammar, and instances still unresolved at the deadline, counted apart."""
    r = resolver or Resolver(deadline)
    try:
        base = dns.name.from_text(domain.strip().rstrip(".") + ".")
    except dns.exception.DNSException as exc:
        raise DnsBrowseError(f"{shown(domain)!r} is not a domain name ({exc}); check --domain") from None
    instances = list(dict.fromkeys(r.records(dns.name.from_text(service.SERVICE, base), "PTR")[0]))
    seen = Browsed([])
    if not instances:
        return seen
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(instances))) as pool:
        outcomes = list(pool.map(lambda pointer: _outcome(r, pointer.target, base), instances))
    for outcome in outcomes:
        if isinstance(outcome, Found):
            seen.found.append(outcome)
        elif isinstance(outcome, BadRecord):
            seen.ignored.append(str(outcome))
        elif isinstance(outcome, OutOfTime):
            seen.unresolved += 1
    seen.found.sort(key=lambda f: f.name.lower())
    return seen


def _outcome(r: Resolver, instance: dns.name.Name, domain: dns.name.Name) -> Found | BadRecord | OutOfTime | None:
    try:
        return _resolve(r, instance, domain)
    except (BadRecord, OutOfTime) as exc:
        return exc


#: How often ``watch`` asks the domain again. Unicast DNS has no announcements to hear;
#: a caching resolver between pingctl and the zone adds up to the records' TTL (60 s).
WATCH_EVERY = 5.0


def watch(domain: str, every: float = WATCH_EVERY, stop: Callable[[], bool] = lambda: False) -> Iterator[Found | str]:
    """Daemons in ``domain`` as they come (a Found, again when its record changes) and go (the
    name), asking every ``every`` seconds until ``stop()`` or Ctrl-C. A round the resolver does
    not answer changes nothing: a daemon leaves when its records do, not when DNS hiccups."""
    present: dict[str, Found] = {}
    while not stop():
        try:
            now = {f.name: f for f in browse(domain, time.monotonic() + min(every, 3.0)).found}
        except DnsBrowseError:
            now = present
        for name in [n for n in present if n not in now]:
            del present[name]
            yield name
        for name, found in now.items():
            if present.get(name) != found:
                present[name] = found
                yield found
        time.sleep(every)


def _resolve(r: Resolver, instance: dns.name.Name, domain: dns.name.Name) -> Found | None:
    """An instance's SRV, TXT and addresses; None if they do not resolve (a half-removed
    registration, a record set by hand with a typo): it is left out, as a browser does.
    BadRecord if a value breaks its grammar; OutOfTime if the deadline passed first."""
    if len(instance) < 2 or instance.parent() != dns.name.from_text(service.SERVICE, domain):
        where = f"{service.SERVICE}.{domain.to_text(omit_final_dot=True)}"
        raise BadRecord(f"{shown(instance.to_text())!r}: a pointer to a name outside {where}")
    try:
        srvs, response = r.records(instance, "SRV")
        txts, _ = r.records(instance, "TXT")
    except OutOfTime:
        raise
    except DnsBrowseError:
        return None
    if not srvs:
        return None
    record = srvs[0]
    host = record.target
    addresses = _addresses_in(response, host) or _addresses_of(r, host)
    try:
        name = instance.labels[0].decode("utf-8")
    except UnicodeDecodeError:
        raise BadRecord(f"{shown(instance.labels[0])!r}: an instance name is UTF-8 text") from None
    return found_from(
        name=name,
        host=host.to_text(omit_final_dot=True),
        addresses=addresses,
        port=record.port,
        txt=service.txt_items(item for rdata in txts for item in rdata.strings),
        domain=domain.to_text(omit_final_dot=True),
    )


def _addresses_in(response: dns.message.Message, host: dns.name.Name) -> list[str]:
    """The host's A/AAAA records a server added to an SRV answer (RFC 2782, RFC 6763 §12.2)."""
    return [
        rdata.address
        for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA)
        for rdata in in_class_records(response.additional, rdtype, host)
    ]


def _addresses_of(r: Resolver, host: dns.name.Name) -> list[str]:
    out: list[str] = []
    for kind in ("A", "AAAA"):
        try:
            out += [rdata.address for rdata in r.records(host, kind)[0]]
        except OutOfTime:
            raise
        except DnsBrowseError:
            continue
    return out
