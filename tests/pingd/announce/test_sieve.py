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
