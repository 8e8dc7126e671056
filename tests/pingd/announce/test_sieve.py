"""The sieve in front of pingd's mDNS listener: queries always read, responses only when they
name the daemon — told from real DNS messages as zeroconf writes them."""

from __future__ import annotations

from typing import Any

from zeroconf import DNSOutgoing, DNSPointer, DNSQuestion, DNSService, const

from pingd.announce import sieve

OURS = (sieve.wire_label("rack-001"), sieve.wire_label("pingd-0a1b2c"))
TYPE = "_pingd._tcp.local."


def _response(instance: str, host: str) -> bytes:
    out = DNSOutgoing(const._FLAGS_QR_RESPONSE | const._FLAGS_AA)
    out.add_answer_at_time(DNSPointer(TYPE, const._TYPE_PTR, const._CLASS_IN, 4500, f"{instance}.{TYPE}"), 0)
    out.add_answer_at_time(
        DNSService(f"{instance}.{TYPE}", const._TYPE_SRV, const._CLASS_IN, 120, 0, 0, 7464, f"{host}.local."), 0
    )
    return out.packets()[0]


def _query(name: str) -> bytes:
    out = DNSOutgoing(const._FLAGS_QR_QUERY)
    out.add_question(DNSQuestion(name, const._TYPE_ANY, const._CLASS_IN))
    return out.packets()[0]


def test_another_daemons_response_is_not_read() -> None:
    assert not sieve.wanted(_response("rack-002", "pingd-ffff"), OURS)


def test_a_response_naming_our_instance_or_host_is_read_whatever_its_case() -> None:
    assert sieve.wanted(_response("rack-001", "pingd-ffff"), OURS)  # someone else claims our name
    assert sieve.wanted(_response("RACK-001", "pingd-ffff"), OURS)
    assert sieve.wanted(_response("other", "pingd-0A1B2C"), OURS)  # our host name


def test_every_query_is_read_and_so_is_what_is_too_short_to_tell() -> None:
    assert sieve.wanted(_query(f"rack-002.{TYPE}"), OURS)  # a question may need our answer
    assert sieve.wanted(b"\x00\x00\x84", OURS)


def test_a_label_is_matched_as_a_whole_with_its_length_byte() -> None:
    assert not sieve.wanted(_response("rack-0011", "pingd-ffff"), OURS)  # "rack-001" inside a longer label


class Inner:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.calls.append(("datagram", data))

    def connection_made(self, transport: Any) -> None:
        self.calls.append(("made", transport))

    def connection_lost(self, exc: Exception | None) -> None:
        self.calls.append(("lost", exc))

    def error_received(self, exc: Exception) -> None:
        self.calls.append(("error", exc))


def test_the_sieve_passes_what_is_wanted_and_everything_else_of_the_protocol() -> None:
    inner = Inner()
    front = sieve.Sieve(inner, lambda: OURS)
    theirs, ours = _response("rack-002", "pingd-ffff"), _response("rack-001", "pingd-ffff")
    front.connection_made("t")
    front.datagram_received(theirs, ("127.0.0.1", 5353))
    front.datagram_received(ours, ("127.0.0.1", 5353))
    error = OSError("x")
    front.error_received(error)
    front.connection_lost(None)
    assert inner.calls == [("made", "t"), ("datagram", ours), ("error", error), ("lost", None)]
    assert front.dropped == 1


def _browse(
    known: list[tuple[str, int]], flags: int = const._FLAGS_QR_QUERY, qtype: int = const._TYPE_PTR
) -> list[bytes]:
    """pingctl's question, "PTR _pingd._tcp.local?", with ``(instance, TTL left)`` known answers,
    as zeroconf writes it: one packet, or several with the truncation bit on all but the last."""
    out = DNSOutgoing(flags)
    out.add_question(DNSQuestion(TYPE, qtype, const._CLASS_IN))
    for instance, ttl in known:
        out.add_answer_at_time(DNSPointer(TYPE, const._TYPE_PTR, const._CLASS_IN, ttl, f"{instance}.{TYPE}"), 0)
    return out.packets()


def test_a_question_that_lists_our_pointer_with_half_its_life_left_needs_no_answer() -> None:
    (known,) = _browse([("rack-000", 4500), ("rack-001", 4500), ("rack-002", 4500)])
    assert sieve.asker_knows(known, OURS[0])
    assert sieve.asker_knows(_browse([("RACK-001", 2250)])[0], OURS[0])  # any case; half is enough


def test_a_question_that_must_be_answered_is_read() -> None:
    ours = OURS[0]
    assert not sieve.asker_knows(_browse([])[0], ours)  # nothing known
    assert not sieve.asker_knows(_browse([("rack-000", 4500), ("rack-0011", 4500)])[0], ours)  # others only
    assert not sieve.asker_knows(_browse([("rack-001", 2249)])[0], ours)  # ours, but stale: refresh it
    assert not sieve.asker_knows(_browse([("rack-001", 4500)], qtype=const._TYPE_ANY)[0], ours)  # another question
    out = DNSOutgoing(const._FLAGS_QR_QUERY)  # two questions: the other may be ours to answer
    out.add_question(DNSQuestion(TYPE, const._TYPE_PTR, const._CLASS_IN))
    out.add_question(DNSQuestion(f"rack-001.{TYPE}", const._TYPE_SRV, const._CLASS_IN))
    out.add_answer_at_time(DNSPointer(TYPE, const._TYPE_PTR, const._CLASS_IN, 4500, f"rack-001.{TYPE}"), 0)
    assert not sieve.asker_knows(out.packets()[0], ours)
    assert not sieve.asker_knows(_response("rack-001", "pingd-ffff"), ours)  # a response, not a question
    assert not sieve.asker_knows(b"\x00" * 12, ours)


def test_a_pointer_written_out_in_full_is_recognised_and_a_lookalike_is_not() -> None:
    head = b"\x00\x00\x00\x00\x00\x01\x00\x01\x00\x00\x00\x00"  # a query: one question, one answer
    question = b"\x06_pingd\x04_tcp\x05local\x00\x00\x0c\x00\x01"
    rdata = OURS[0] + b"\x06_pingd\x04_tcp\x05local\x00"
    record = b"\xc0\x0c\x00\x0c\x00\x01" + (4500).to_bytes(4) + len(rdata).to_bytes(2) + rdata
    assert sieve.asker_knows(head + question + record, OURS[0])
    as_txt = b"\xc0\x0c\x00\x10\x00\x01" + (4500).to_bytes(4) + len(rdata).to_bytes(2) + rdata  # a TXT's data
    assert not sieve.asker_knows(head + question + as_txt, OURS[0])


class Timers:
    """``loop.call_later`` by hand: the calls made, run when the test says."""

    def __init__(self) -> None:
        self.pending: list[Any] = []

    def __call__(self, delay: float, callback: Any) -> Any:
        timer = Timer(callback)
        self.pending.append(timer)
        return timer

    def fire(self) -> None:
        for timer in self.pending:
            if not timer.cancelled:
                timer.callback()
        self.pending.clear()


class Timer:
    def __init__(self, callback: Any) -> None:
        self.callback, self.cancelled = callback, False

    def cancel(self) -> None:
        self.cancelled = True


def _asked(front: sieve.Sieve, packets: list[bytes], addr: Any = ("127.0.0.1", 40000)) -> None:
    for packet in packets:
        front.datagram_received(packet, addr)


def test_a_truncated_question_that_lists_us_in_any_packet_is_dropped_whole() -> None:
    crowd = [(f"rack-{i:03d}", 4500) for i in range(600)]
    packets = _browse(crowd)
    assert len(packets) > 2 and all(p[2] & 0x02 for p in packets[:-1])  # truncated, then continued
    assert sieve.continuation_lists(packets[-1], sieve.wire_label("rack-599"))
    for ours in ("rack-001", "rack-599"):  # in the question's packet, in the last continuation
        inner, timers = Inner(), Timers()
        front = sieve.Sieve(inner, lambda ours=ours: (sieve.wire_label(ours), OURS[1]), later=timers)
        _asked(front, packets)
        timers.fire()
        assert inner.calls == [] and front.dropped == len(packets), ours
        front.datagram_received(packets[1], ("127.0.0.2", 40000))  # another asker's continuation
        assert inner.calls == [("datagram", packets[1])]


def test_a_truncated_question_that_does_not_list_us_reaches_zeroconf_whole_or_after_the_wait() -> None:
    inner, timers = Inner(), Timers()
    front = sieve.Sieve(inner, lambda: OURS, later=timers)
    unknown = _browse([(f"rack-{i:03d}", 4500) for i in range(2, 600)])
    _asked(front, unknown[:-1])
    assert inner.calls == []  # held back until the question is whole
    _asked(front, unknown[-1:])
    assert inner.calls == [("datagram", p) for p in unknown] and front.dropped == 0
    timers.fire()  # the wait was cancelled: nothing twice
    assert len(inner.calls) == len(unknown)
    # A continuation that never comes: the question goes to zeroconf when the wait runs out.
    _asked(front, unknown[:1])
    assert len(inner.calls) == len(unknown)
    timers.fire()
    assert inner.calls[-1] == ("datagram", unknown[0])


def test_a_new_question_ends_the_last_and_what_is_held_stays_bounded() -> None:
    inner, timers = Inner(), Timers()
    front = sieve.Sieve(inner, lambda: OURS, later=timers)
    unknown = _browse([(f"rack-{i:03d}", 4500) for i in range(2, 600)])
    _asked(front, unknown[:2])
    (single,) = _browse([])
    front.datagram_received(single, ("127.0.0.1", 40000))  # the asker's next question
    assert inner.calls == [("datagram", p) for p in [*unknown[:2], single]]
    for i in range(sieve.MAX_ASKING + 10):  # many askers, each with a question never continued
        front.datagram_received(unknown[0], ("127.0.0.1", 10000 + i))
    assert len(front._asking) == sieve.MAX_ASKING
    timers.fire()
    assert front._asking == {}


def test_a_probe_proposing_our_pointer_is_read() -> None:
    """A prober's question carries the records it proposes (the authority section): another
    daemon claiming our name must hear our answer (RFC 6762 §8.2), not be taken as knowing us."""
    out = DNSOutgoing(const._FLAGS_QR_QUERY | const._FLAGS_AA)
    out.add_question(DNSQuestion(TYPE, const._TYPE_PTR, const._CLASS_IN | const._CLASS_UNIQUE))
    out.add_authorative_answer(DNSPointer(TYPE, const._TYPE_PTR, const._CLASS_IN, 4500, f"rack-001.{TYPE}"))
    (probe,) = out.packets()
    assert probe[8:10] == b"\x00\x01"  # one authority record
    assert not sieve.asker_knows(probe, OURS[0])
