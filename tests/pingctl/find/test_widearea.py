"""Browsing a DNS domain against a scripted name server on loopback."""

from __future__ import annotations

import socket
import time

import dns.flags
import dns.message
import dns.rdata
import dns.rrset
import pytest

from pingctl.find import widearea
from pingctl.find.found import Browsed
from tests.support.scripted_dns import ScriptedDns

ZONE = {
    ("_pingd._tcp.example.org.", "PTR"): ["box._pingd._tcp.example.org.", "half._pingd._tcp.example.org."],
    ("box._pingd._tcp.example.org.", "SRV"): ["0 0 7464 pingd-n1.example.org."],
    ("box._pingd._tcp.example.org.", "TXT"): ['"txtvers=1" "pv=1" "ver=0.1.0" "id=n1"'],
    ("pingd-n1.example.org.", "A"): ["192.0.2.10"],
    ("half._pingd._tcp.example.org.", "TXT"): ['"id=n2"'],  # an SRV never added: left out
}


def answer_from_zone(query: dns.message.Message) -> list[bytes]:
    """ZONE's answer, after two datagrams the client must ignore: garbage, then an answer with
    another id."""
    question = query.question[0]
    kind = dns.rdatatype.to_text(question.rdtype)
    response = dns.message.make_response(query)
    records = ZONE.get((question.name.to_text(), kind))
    if records:
        response.answer.append(dns.rrset.from_text_list(question.name, 60, "IN", kind, records))
    elif not any(name == question.name.to_text() for name, _ in ZONE):
        response.set_rcode(dns.rcode.NXDOMAIN)
    other = dns.message.make_response(query)
    other.id = (query.id + 1) % 65536
    return [b"\x00\x01garbage", other.to_wire(), response.to_wire()]


@pytest.fixture
def server():
    s = ScriptedDns(answer_from_zone)
    yield s
    s.close()


def test_a_domain_lists_the_daemons_whose_records_resolve(server):
    deadline = time.monotonic() + 3
    r = widearea.Resolver(deadline, ("127.0.0.1",), server.port)
    [found] = widearea.browse("example.org", deadline, r).found
    assert (found.name, found.host, found.addresses, found.port) == (
        "box",
        "pingd-n1.example.org",
        ("192.0.2.10",),
        7464,
    )
    assert (found.node_id, found.version, found.protocol, found.domain) == ("n1", "0.1.0", "1", "example.org")


def test_noise_is_ignored_and_only_the_answer_counts(server):
    query = dns.message.make_query("pingd-n1.example.org.", "A")
    response = widearea.exchange(query, "127.0.0.1", 2.0, server.port)
    assert [r.to_text() for r in response.answer[0]] == ["192.0.2.10"]


def test_no_server_on_the_port_is_known_at_once():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        widearea.exchange(dns.message.make_query("example.org.", "SOA"), "127.0.0.1", 2.0, port)
    assert time.monotonic() - start < 1.0  # refused, not timed out


def test_a_resolver_that_fails_everywhere_says_so(server):
    r = widearea.Resolver(time.monotonic() + 0.3, ("127.0.0.1",), server.port + 1 if server.port < 65535 else 1)
    with pytest.raises(widearea.DnsBrowseError, match="cannot look up example.org"):
        r.ask(dns.name.from_text("example.org."), "SOA")


def test_a_truncated_answer_is_asked_again_over_tcp(monkeypatch, server):
    asked_tcp = []

    def tcp(query, where, timeout, port):
        asked_tcp.append((where, port))
        return dns.message.make_response(query)

    import dns.query

    monkeypatch.setattr(dns.query, "tcp", tcp)
    original = dns.message.from_wire

    def truncated(wire, **kwargs):
        message = original(wire, **kwargs)
        message.flags |= dns.flags.TC
        return message

    monkeypatch.setattr(dns.message, "from_wire", truncated)
    widearea.exchange(dns.message.make_query("example.org.", "SOA"), "127.0.0.1", 2.0, server.port)
    assert asked_tcp == [("127.0.0.1", server.port)]


def test_watch_reports_what_comes_changes_and_goes_and_rides_out_a_failed_round(monkeypatch):
    from pingctl.find.found import Found

    box = Found("box", "pingd-n1.example.org", ("192.0.2.10",), 7464, "n1", "0.1.0", "1", domain="example.org")
    moved = Found("box", "pingd-n1.example.org", ("192.0.2.11",), 7464, "n1", "0.1.0", "1", domain="example.org")
    rounds = iter([[box], [box], widearea.DnsBrowseError("down"), [moved], []])

    def browse(domain, deadline):
        answer = next(rounds)
        if isinstance(answer, Exception):
            raise answer
        return Browsed(answer)

    monkeypatch.setattr(widearea, "browse", browse)
    asked = iter(range(5))
    events = list(widearea.watch("example.org", every=0, stop=lambda: next(asked, None) is None))
    assert events == [box, moved, "box"]


def _zone_server(zone: dict, rdclass: str = "IN", silent_for: tuple[str, ...] = ()) -> ScriptedDns:
    """A server answering from ``zone`` with records of ``rdclass``; no answer at all to
    questions of the types in ``silent_for``."""

    def answer(query: dns.message.Message) -> list[bytes]:
        question = query.question[0]
        kind = dns.rdatatype.to_text(question.rdtype)
        if kind in silent_for:
            return []
        response = dns.message.make_response(query)
        records = zone.get((question.name.to_text(), kind))
        if records:
            if kind == "PTR" or rdclass == "IN":
                response.answer.append(dns.rrset.from_text_list(question.name, 60, "IN", kind, records))
            else:
                response.answer.append(
                    dns.rrset.from_text_list(question.name, 60, rdclass, kind, [_generic(kind, r) for r in records])
                )
        return [response.to_wire()]

    return ScriptedDns(answer)


def _generic(kind: str, text: str) -> str:
    """``text`` (IN-class presentation) as generic rdata (RFC 3597), the only form a record of
    another class can be written in: what an attacker's server sends."""
    wire = dns.rdata.from_text("IN", kind, text).to_digestable()
    return f"\\# {len(wire)} {wire.hex()}"


def _browse(server: ScriptedDns, seconds: float = 3.0) -> Browsed:
    deadline = time.monotonic() + seconds
    return widearea.browse("example.org", deadline, widearea.Resolver(deadline, ("127.0.0.1",), server.port))


@pytest.mark.parametrize("rdclass", ["CH", "HS", "CLASS99"])
def test_records_of_another_class_are_ignored_not_a_crash(rdclass):
    """Holds off the crash on a DNS record of another class: an SRV of class CH or HS was read
    as generic rdata (no .target) and ended every --domain command with a traceback."""
    server = _zone_server(ZONE, rdclass)
    try:
        started = time.monotonic()
        seen = _browse(server)
        took = time.monotonic() - started
    finally:
        server.close()
    assert seen.found == [] and seen.ignored == [] and seen.unresolved == 0
    assert took < 1.0  # answered (with records of no use), not timed out


def test_an_address_of_another_class_in_the_additional_section_is_not_used():
    response = dns.message.make_response(dns.message.make_query("box._pingd._tcp.example.org.", "SRV"))
    host = dns.name.from_text("pingd-n1.example.org.")
    response.additional.append(dns.rrset.from_text_list(host, 60, "HS", "A", [_generic("A", "192.0.2.99")]))
    response.additional.append(dns.rrset.from_text_list(host, 60, "IN", "A", ["192.0.2.10"]))
    assert widearea._addresses_in(response, host) == ["192.0.2.10"]


def test_a_forged_node_id_refuses_the_record_with_a_note():
    """Holds off pin injection through a registered TXT record, as over mDNS."""
    zone = dict(ZONE)
    zone[("box._pingd._tcp.example.org.", "TXT")] = [
        f'"txtvers=1" "pv=1" "ver=0.1.0" "id=0000000000000000 {"K" * 40} box"'
    ]
    server = _zone_server(zone)
    try:
        seen = _browse(server)
    finally:
        server.close()
    assert seen.found == [] and len(seen.ignored) == 1 and "node id" in seen.ignored[0]


def test_instances_unresolved_at_the_deadline_are_counted_and_the_deadline_is_kept():
    """Holds off the silent cut-off: records that resolved too slowly used to read as "no pingd
    registered"; now they are counted, and the browse ends at its deadline."""
    zone = {("_pingd._tcp.example.org.", "PTR"): [f"d{i}._pingd._tcp.example.org." for i in range(300)]}
    server = _zone_server(zone, silent_for=("SRV", "TXT"))
    try:
        started = time.monotonic()
        seen = _browse(server, seconds=0.5)
        took = time.monotonic() - started
    finally:
        server.close()
    assert seen.found == [] and seen.unresolved == 300
    assert took < 1.5
    assert "300 more announced or registered" in seen.notes("the deadline")[0]


def test_a_pointer_outside_the_service_is_refused():
    zone = dict(ZONE)
    zone[("_pingd._tcp.example.org.", "PTR")] = ["box._pingd._tcp.example.org.", "evil.example.net."]
    server = _zone_server(zone)
    try:
        seen = _browse(server)
    finally:
        server.close()
    assert [f.name for f in seen.found] == ["box"] and "outside" in seen.ignored[0]
