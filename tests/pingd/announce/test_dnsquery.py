"""One exchange with a DNS server (``pingd.announce.dnsquery``) against scripted servers on loopback:
noise ignored, truncation over TCP, one deadline for the whole, and a stop that calls it off."""

from __future__ import annotations

import time
from collections.abc import Iterator

import dns.exception
import dns.flags
import dns.message
import dns.rrset
import pytest

from pingd.announce import dnsquery
from tests.support.scripted_dns import Answer, ScriptedDns

QUESTION = "box._pingd._tcp.example.org."
SRV = dns.rrset.from_text(QUESTION, 60, "IN", "SRV", "0 0 7464 pingd-n1.example.org.")


def answer_to(query: dns.message.Message, *, truncated: bool = False, id_offset: int = 0) -> bytes:
    response = dns.message.make_response(query)
    response.id = (response.id + id_offset) % 65536
    if truncated:
        response.flags |= dns.flags.TC
    else:
        response.answer.append(SRV)
    return response.to_wire()


@pytest.fixture
def serve() -> Iterator:
    servers: list[ScriptedDns] = []

    def start(answer: Answer, tcp_answer: Answer | None = None) -> ScriptedDns:
        servers.append(ScriptedDns(answer, tcp_answer))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def ask(server: ScriptedDns, timeout: float = 2.0, waker: dnsquery.Waker | None = None) -> dns.message.Message:
    return dnsquery.exchange(dns.message.make_query(QUESTION, "SRV"), ("127.0.0.1", server.port), timeout, waker)


def test_noise_before_the_answer_is_ignored(serve):
    """Garbage and a datagram with another id come first; the answer after them is the answer."""
    server = serve(lambda q: [b"\x00garbage", answer_to(q, id_offset=1), answer_to(q)])
    assert ask(server).answer == [SRV]


def test_a_truncated_answer_is_asked_again_over_tcp(serve):
    server = serve(lambda q: [answer_to(q, truncated=True)], tcp_answer=lambda q: [answer_to(q)])
    assert ask(server).answer == [SRV]


def test_one_deadline_bounds_udp_and_tcp_together(serve):
    """A truncated answer, then a TCP connection the server holds open and never answers on:
    the exchange ends at its one timeout, not at a timeout for each transport."""
    server = serve(lambda q: [answer_to(q, truncated=True)], tcp_answer=lambda q: [])
    began = time.monotonic()
    with pytest.raises(dns.exception.Timeout):
        ask(server, timeout=0.5)
    assert time.monotonic() - began < 0.5 + 0.25


def test_waking_calls_off_an_exchange_in_progress(serve):
    """The server, once it has the question, wakes the waker instead of answering (as pingd
    stopping would): the exchange ends then, not at its timeout."""
    waker = dnsquery.Waker()
    server = serve(lambda q: waker.wake() or [])
    began = time.monotonic()
    with pytest.raises(dnsquery.Interrupted):
        ask(server, timeout=5.0, waker=waker)
    assert time.monotonic() - began < 1.0
    waker.close()


def test_a_port_with_nothing_on_it_is_known_at_once(serve):
    server = serve(lambda q: [])
    port = server.port
    server.close()  # the port is free again: an ICMP port-unreachable answers
    began = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        dnsquery.exchange(dns.message.make_query(QUESTION, "SRV"), ("127.0.0.1", port), 5.0)
    assert time.monotonic() - began < 1.0
