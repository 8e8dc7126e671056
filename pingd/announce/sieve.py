"""What pingd's mDNS responder reads: every query, and only the responses that name it.

On a link every mDNS response is multicast to every responder, and python-zeroconf parses
each one in full and files its records in a cache. A daemon that only announces has no use for
other services' records; what it must see are queries (to answer them) and responses that name
its own instance or host (a conflict, while it probes and after). On a link of N daemons every
question brings N multicast answers, each delivered to N responders: N² parses. Measured with
300 pingd on one link, the parses alone kept two cores busy for seconds after every question,
and the answers a querier waited for came late or not at all.

``Sieve`` sits in front of zeroconf's listener (an asyncio datagram protocol) and drops a
response unless one of the daemon's labels occurs in it: a name in a DNS message is written out
in full at its first occurrence (later ones may point back to it), so a response that names
the daemon holds its label's bytes, length byte first. Labels are compared in ASCII lower case,
as DNS compares names.

It also answers a one-shot ("legacy unicast") query, one from a port other than 5353 as
pingctl asks, with zeroconf's own answer, by unicast only, as RFC 6762 §6.7 asks. zeroconf
would multicast the same answer too, and on a link of N daemons each of pingctl's questions
then cost N multicast answers delivered to N responders: 3.2 CPU-seconds per question with 300
daemons, during which the answers pingctl waited for came late.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("pingd")

_QR = 0x80  # the header's response bit (RFC 1035 §4.1.1), in its third byte
_MDNS_PORT = 5353


def wire_label(label: str) -> bytes:
    """A DNS label as it appears in a message: its length byte, then its bytes, in lower case."""
    raw = label.encode()[:63].lower()
    return bytes([len(raw)]) + raw


def wanted(packet: bytes, labels: tuple[bytes, ...]) -> bool:
    """Whether the responder must read ``packet``: a query, anything too short to tell, or a
    response in which one of ``labels`` (``wire_label``s) occurs."""
    if len(packet) < 12 or not packet[2] & _QR:
        return True
    lowered = packet.lower()
    return any(label in lowered for label in labels)


#: Answers a legacy unicast query itself and says True, or says False to leave it to zeroconf.
Answer = Callable[[bytes, Any], bool]


class Sieve(asyncio.DatagramProtocol):
    """zeroconf's listener behind a sieve: what ``wanted`` refuses never reaches it, and a
    legacy unicast query goes to ``answer`` first."""

    def __init__(self, inner: Any, labels: Callable[[], tuple[bytes, ...]], answer: Answer | None = None) -> None:
        self._inner = inner
        self._labels = labels
        self._answer = answer
        self.dropped = 0

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if not wanted(data, self._labels()):
            self.dropped += 1
        elif not (self._answer is not None and is_legacy_query(data, addr) and self._answer(data, addr)):
            self._inner.datagram_received(data, addr)

    def connection_made(self, transport: Any) -> None:
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._inner.connection_lost(exc)

    def error_received(self, exc: Exception) -> None:
        self._inner.error_received(exc)


def is_legacy_query(packet: bytes, addr: Any) -> bool:
    """A query from a port other than 5353: a one-shot querier's (RFC 6762 §6.7)."""
    return len(packet) >= 12 and not packet[2] & _QR and addr[1] != _MDNS_PORT


def unicast_answerer(zc: Any, reader: Any) -> Answer:
    """Answer a legacy unicast query as zeroconf would, without the multicast copy."""
    from zeroconf import DNSIncoming
    from zeroconf._handlers.answers import construct_outgoing_unicast_answers

    def answer(data: bytes, addr: Any) -> bool:
        msg = DNSIncoming(data, (addr[0], addr[1]))
        if not msg.valid or msg.truncated:
            return False  # zeroconf's own way: reassembly, or nothing
        answers = zc.query_handler.async_response([msg], True)
        if answers is not None and answers.ucast:
            out = construct_outgoing_unicast_answers(answers.ucast, True, msg.questions, msg.id)
            zc.async_send(out, addr[0], addr[1], (), reader)
        return True

    return answer


async def install(zc: Any, labels: Callable[[], tuple[bytes, ...]]) -> None:
    """Put a Sieve in front of each of zeroconf's readers, once its sockets are up. If
    zeroconf's insides are not what this expects, it reads everything, as before."""
    try:
        await zc.async_wait_for_start()
        for reader in zc.engine.readers:
            transport = reader.transport
            transport.set_protocol(Sieve(transport.get_protocol(), labels, unicast_answerer(zc, reader)))
    except Exception as exc:
        log.debug("mDNS: reading every response (no sieve: %s)", exc)
