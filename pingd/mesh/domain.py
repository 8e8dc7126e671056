"""Finding peers registered in the daemon's DNS domain (``dns_domain``): DNS-SD over unicast DNS
(RFC 6763), beyond the link. Every ``EVERY`` seconds a thread of its own reads the PTR records
of ``_pingd._tcp.DOMAIN``, then each instance's SRV and TXT records and its host's addresses,
from the server pingd registers with (``dns_server``) or else the system's first name server.

A thread of its own: a silent server costs the exchange's timeout, which the prober's schedule
must never wait for. Each exchange is ``pingd.announce.dnsquery.exchange``'s (one deadline, called
off at once when the daemon stops). Only class-IN records count, and every value is held to
the grammar pingctl holds it to; a record that breaks it is passed over.
"""

from __future__ import annotations

import logging
import threading
from typing import Final

import dns.exception
import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype

from pingd.announce.dnsquery import Interrupted, Waker, exchange
from pingd.mesh.table import Peer
from pingd.shared import service
from pingd.shared.addresses import ipv4_first
from pingd.shared.service import BadRecord

log = logging.getLogger("pingd")

#: Seconds between two browses of the domain: registrations change on a daemon's start or stop.
EVERY: Final = 30.0
#: The waits after the first browses: a fleet started together (each daemon registering as it
#: starts) finds itself in seconds, not at the next ``EVERY``.
FIRST_WAITS: Final = (1.0, 2.0, 4.0)
#: Seconds one exchange with the server may take.
TIMEOUT: Final = 2.0
#: The most instances read from one browse (a zone is bounded too: docs/performance.md).
MOST: Final = 1024


class DomainPeers:
    """The peers registered in ``domain``, browsed every ``EVERY`` seconds on a thread."""

    def __init__(self, own_node_id: str, domain: str, server: tuple[str, int] | None, every: float = EVERY) -> None:
        self._own = own_node_id
        self._domain = dns.name.from_text(domain)
        self._server = server
        self._every = every
        self._waker = Waker()
        self._stop = threading.Event()
        self._found: list[Peer] = []
        self._thread = threading.Thread(target=self._run, name="pingd-mesh-dns", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._waker.wake()
        if self._thread.is_alive():
            self._thread.join(timeout=TIMEOUT + 1)
        self._waker.close()

    def peers(self) -> list[Peer]:
        return list(self._found)  # replaced whole by the browsing thread, never changed in place

    def _run(self) -> None:
        failing = False
        waits = iter(FIRST_WAITS)
        while not self._stop.is_set():
            try:
                self._found = self.browse()
                failing = False
            except Interrupted:
                return
            except (OSError, dns.exception.DNSException) as exc:
                if not failing:  # once per outage, not at every browse
                    log.warning("mesh: cannot browse %s for peers (%s); trying again", self._domain, exc)
                failing = True
            self._stop.wait(min(next(waits, self._every), self._every))

    def browse(self) -> list[Peer]:
        """Every peer registered now but this daemon; raises for a server that cannot be asked."""
        server = _address_of(*self._server) if self._server else _system_server()
        service_name = dns.name.from_text("_pingd._tcp", self._domain)
        answer = self._ask(server, service_name, dns.rdatatype.PTR)
        instances = [rd.target for rd in _records(answer, service_name, dns.rdatatype.PTR)][:MOST]
        found = []
        for instance in instances:
            try:
                peer = self._resolve(server, instance)
            except BadRecord as exc:
                log.debug("mesh: passing over %s: %s", instance, exc)
                continue
            if peer is not None and peer.node_id != self._own:
                found.append(peer)
        return found

    def _resolve(self, server: tuple[str, int], instance: dns.name.Name) -> Peer | None:
        label = instance.relativize(dns.name.from_text("_pingd._tcp", self._domain)).to_unicode(omit_final_dot=True)
        problem = service.instance_name_problem(label)
        if problem is not None or len(instance) != len(self._domain) + 3:
            raise BadRecord(problem or "not an instance of _pingd._tcp")
        srv = next(iter(_records(self._ask(server, instance, dns.rdatatype.SRV), instance, dns.rdatatype.SRV)), None)
        if srv is None or not 0 < srv.port <= 65535:
            return None
        txt_answer = self._ask(server, instance, dns.rdatatype.TXT)
        strings = [s for rd in _records(txt_answer, instance, dns.rdatatype.TXT) for s in rd.strings]
        txt = service.decode_txt(service.txt_items(strings))
        addresses = [
            rd.address
            for kind in (dns.rdatatype.A, dns.rdatatype.AAAA)
            for rd in _records(self._ask(server, srv.target, kind), srv.target, kind)
        ]
        if not addresses:
            return None
        return Peer(label, txt.node_id, ipv4_first(addresses)[0], srv.port, txt.curve_key)

    def _ask(self, server: tuple[str, int], name: dns.name.Name, kind: dns.rdatatype.RdataType) -> dns.message.Message:
        return exchange(dns.message.make_query(name, kind, dns.rdataclass.IN), server, TIMEOUT, self._waker)


def _records(message: dns.message.Message, name: dns.name.Name, kind: dns.rdatatype.RdataType) -> list:
    """The class-IN records of ``name`` and ``kind`` in the answer section."""
    return [rd for rrset in message.answer if rrset.name == name and rrset.rdtype == kind
            and rrset.rdclass == dns.rdataclass.IN for rd in rrset]  # fmt: skip


def _address_of(host: str, port: int) -> tuple[str, int]:
    """A server given by name, as an address (the registrar's own rule)."""
    import socket

    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        return host, port
    except OSError:
        return str(socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0][4][0]), port


def _system_server() -> tuple[str, int]:
    """The system's first name server (resolv.conf)."""
    import dns.resolver

    servers = dns.resolver.Resolver().nameservers
    if not servers:
        raise OSError("no name server in resolv.conf; give dns_server")
    return str(servers[0]), 53
