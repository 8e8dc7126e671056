"""The one-shot mDNS querier: its question schedule and what it asks, the pointers it hears,
its receive buffer."""

from __future__ import annotations

import itertools
import queue
import socket
from pathlib import Path

from zeroconf import DNSCache, DNSOutgoing, DNSPointer, RecordUpdate, ServiceStateChange, const, current_time_millis

from pingctl.find import mdns
from pingd.shared.service import SERVICE_TYPE


def test_questions_come_often_at_first_then_every_second():
    times = list(itertools.islice(mdns.question_times(), 12))
    assert times[:3] == [0.0, 0.25, 0.5] and times[7] == 1.75
    assert times[8:] == [2.0, 3.0, 4.0, 5.0]


def _pointer(
    alias: str, ttl: int = 4500, name: str = SERVICE_TYPE, class_: int = const._CLASS_IN, age_ms: float = 0.0
) -> DNSPointer:
    return DNSPointer(name, const._TYPE_PTR, class_, ttl, alias, current_time_millis() - age_ms)


def test_every_pointer_of_the_service_type_is_an_event_and_nothing_else_is():
    events: queue.Queue = queue.Queue()
    listener = mdns._Pointers(events)
    now = current_time_millis()
    expired = _pointer(f"gone.{SERVICE_TYPE}", ttl=1, age_ms=5000)
    records = [
        _pointer(f"a.{SERVICE_TYPE}"),
        _pointer(f"b.{SERVICE_TYPE}", name=SERVICE_TYPE.upper()),  # DNS names compare without case
        _pointer(f"c.{SERVICE_TYPE}", class_=3),  # class CH: no pingd
        _pointer("d._other._tcp.local.", name="_other._tcp.local."),
        expired,
    ]
    listener.async_update_records(None, now, [RecordUpdate(r, None) for r in records])  # type: ignore[arg-type]
    got = [events.get_nowait() for _ in range(events.qsize())]
    assert got == [
        (f"a.{SERVICE_TYPE}", ServiceStateChange.Added),
        (f"b.{SERVICE_TYPE}", ServiceStateChange.Added),
        (f"gone.{SERVICE_TYPE}", ServiceStateChange.Removed),
    ]


def test_a_question_lists_the_pointers_already_heard_with_half_their_life_left():
    """Known-answer suppression (RFC 6762 §7.1): a daemon already heard stays silent."""
    sent: list[DNSOutgoing] = []
    fresh = _pointer(f"fresh.{SERVICE_TYPE}")
    stale = _pointer(f"stale.{SERVICE_TYPE}", ttl=100, age_ms=60_000)  # 60 of its 100 s gone

    class FakeZeroconf:
        cache = DNSCache()

        def send(self, out: DNSOutgoing) -> None:
            sent.append(out)

    zc = FakeZeroconf()
    zc.cache.async_add_records([fresh, stale])
    mdns._ask(zc)  # type: ignore[arg-type]
    (out,) = sent
    assert [q.name for q in out.questions] == [SERVICE_TYPE]
    assert [r.alias for r, _ in out.answers] == [fresh.alias]


def test_a_one_shot_querier_asks_for_room_for_a_crowd_of_answers():
    zc = mdns._open(("127.0.0.1",))
    try:
        granted = [r.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) for r in zc.engine.readers]
    finally:
        zc.close()
    rmem_max = int(Path("/proc/sys/net/core/rmem_max").read_text())
    assert granted and all(size >= min(mdns.RECEIVE_BUFFER, rmem_max) for size in granted)
