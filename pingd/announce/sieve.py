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

It drops, unread, a question it would answer with nothing: one that asks only for the service
type's PTR records and already lists this daemon's among its known answers, with at least half
its lifetime left (RFC 6762 §7.1), and the known-answer packets that continue such a question.
pingctl's later questions within its window each carry every answer heard so far: with 300
daemons on one link, 1.7-1.9 CPU-seconds of parsing among the daemons per `discover`, which
overlapped the sessions of a `ping --all`.

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
_TC = 0x02  # the header's truncation bit: known answers continue in the asker's next packet
_MDNS_PORT = 5353
#: The question "PTR _pingd._tcp.local?" as it follows the header: the name, then the type.
_SERVICE = b"\x06_pingd\x04_tcp\x05local\x00"
_PTR_QUESTION = _SERVICE + b"\x00\x0c"
#: A known answer suppresses pingd's own only with at least half its TTL left (RFC 6762 §7.1):
#: zeroconf gives a service's PTR record 4,500 s.
_HALF_PTR_TTL = 4500 // 2
#: How long a truncated question's continuations are waited for (zeroconf waits 400-500 ms).
CONTINUED = 0.5
#: Bounds on what is held back, whoever sends what: askers at once, packets per question.
MAX_ASKING = 64
MAX_HELD = 64


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


def asker_knows(packet: bytes, instance: bytes) -> bool:
    """Whether ``packet`` is a question for the PTR records of pingd's service type (one
    question, then known answers alone) whose known answers hold this daemon's PTR record (its
    instance label, ``instance``, as ``wire_label`` writes it) with at least half its TTL left:
    the asker knows of it already, and no answer is due. Read from the bytes, unparsed."""
    return is_pointer_question(packet) and _lists_pointer(packet, instance, 12 + len(_PTR_QUESTION) + 2)


def is_pointer_question(packet: bytes) -> bool:
    """A query with one question, "PTR _pingd._tcp.local?", and no authority or additional
    records: a prober's question carries the records it proposes in the authority section, and
    those are no known answers (RFC 6762 §8.2)."""
    return (
        len(packet) >= 12 + len(_PTR_QUESTION) + 2
        and not packet[2] & _QR
        and packet[4:6] == b"\x00\x01"
        and packet[8:12] == b"\x00\x00\x00\x00"
        and packet[12 : 12 + len(_PTR_QUESTION)].lower() == _PTR_QUESTION
    )


def is_continuation(packet: bytes) -> bool:
    """A query packet with no question: the known answers of a truncated one, continued."""
    return len(packet) >= 12 and not packet[2] & _QR and packet[4:6] == b"\x00\x00"


def continuation_lists(packet: bytes, instance: bytes) -> bool:
    """Whether a continuation packet lists this daemon's PTR record as ``asker_knows`` means it."""
    return is_continuation(packet) and packet[8:12] == b"\x00\x00\x00\x00" and _lists_pointer(packet, instance, 12)


def _lists_pointer(packet: bytes, instance: bytes, first: int) -> bool:
    """Whether a PTR record pointing to ``instance``'s name occurs from ``first`` on, with at least
    half its TTL left. Its data is the label, then the service type's name: written out, or a
    pointer to offset 12 where the message writes it first (the question's name, or the first
    record's owner in a continuation)."""
    lowered = packet.lower()
    forms = [instance + _SERVICE]
    if lowered.startswith(_SERVICE, 12):
        forms.append(instance + b"\xc0\x0c")
    for rdata in forms:
        at = lowered.find(rdata, first)
        while at != -1:
            # ...preceded by the record's type (PTR), class, TTL and data length.
            if (
                at - 10 >= first
                and packet[at - 10 : at - 8] == b"\x00\x0c"
                and int.from_bytes(packet[at - 6 : at - 2]) >= _HALF_PTR_TTL
                and int.from_bytes(packet[at - 2 : at]) == len(rdata)
            ):
                return True
            at = lowered.find(rdata, at + 1)
    return False


#: Answers a legacy unicast query itself and says True, or says False to leave it to zeroconf.
Answer = Callable[[bytes, Any], bool]
#: Calls a function after a delay on zeroconf's loop (``loop.call_later``); returns a handle.
Later = Callable[[float, Callable[[], None]], Any]


class _Asking:
    """A truncated question for the service type's pointers, and its continuations so far."""

    __slots__ = ("held", "known", "timer")

    def __init__(self, known: bool, held: list[bytes], timer: Any) -> None:
        self.known = known  # it lists this daemon: every packet of it is dropped
        self.held = held  # else its packets, kept back until it is whole
        self.timer = timer


class Sieve(asyncio.DatagramProtocol):
    """zeroconf's listener behind a sieve: what ``wanted`` refuses never reaches it, nor does a
    question for the service type that knows of this daemon (continuations included); a
    legacy unicast query goes to ``answer`` first.

    A truncated question's known answers continue in the asker's next packets, and this
    daemon's pointer may be in any of them: its packets are held back (as zeroconf itself
    waits for them, up to 400-500 ms) and read as bytes. One that lists this daemon is dropped
    whole; any other goes to zeroconf once whole (a packet without the truncation bit), or
    after ``CONTINUED`` seconds."""

    def __init__(
        self,
        inner: Any,
        labels: Callable[[], tuple[bytes, ...]],
        answer: Answer | None = None,
        later: Later | None = None,
    ) -> None:
        self._inner = inner
        self._labels = labels
        self._answer = answer
        self._later = later
        self.dropped = 0
        self._asking: dict[Any, _Asking] = {}

    def datagram_received(self, data: bytes, addr: Any) -> None:
        labels = self._labels()
        if not wanted(data, labels):
            self.dropped += 1
            return
        if labels and self._known_answers(data, addr, labels[0]):
            return
        if not (self._answer is not None and is_legacy_query(data, addr) and self._answer(data, addr)):
            self._inner.datagram_received(data, addr)

    def _known_answers(self, data: bytes, addr: Any, instance: bytes) -> bool:
        """Whether ``data`` was dealt with here: dropped, or held with its question."""
        asking = self._asking.get(addr)
        if asking is not None:
            if is_continuation(data) and len(asking.held) < MAX_HELD:
                if asking.known or continuation_lists(data, instance):
                    self.dropped += len(asking.held) + 1
                    asking.known, asking.held = True, []
                else:
                    asking.held.append(data)
                if not data[2] & _TC:
                    self._end(addr)
                return True
            self._end(addr)  # a new question, or a runaway one: the last one is over
        if not is_pointer_question(data):
            return False
        known = _lists_pointer(data, instance, 12 + len(_PTR_QUESTION) + 2)
        if data[2] & _TC and len(self._asking) < MAX_ASKING:
            later = self._later or asyncio.get_running_loop().call_later
            self._asking[addr] = _Asking(known, [] if known else [data], later(CONTINUED, lambda: self._end(addr)))
            self.dropped += known
            return True
        self.dropped += known
        return known

    def _end(self, addr: Any) -> None:
        """The question from ``addr`` is whole, or waited for long enough: hand it over unless
        it listed this daemon."""
        asking = self._asking.pop(addr, None)
        if asking is None:
            return
        if asking.timer is not None:
            asking.timer.cancel()
        for packet in asking.held:
            self._inner.datagram_received(packet, addr)

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
