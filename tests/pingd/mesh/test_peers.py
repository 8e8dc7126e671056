"""Finding peers on the link (pingd.mesh.peers), read from a zeroconf cache filled by hand: who
is a peer, what is passed over, and what a flood of withdrawn names leaves behind."""

from __future__ import annotations

import socket
from types import SimpleNamespace
from typing import Any

from zeroconf import DNSAddress, DNSPointer, DNSService, DNSText, current_time_millis
from zeroconf._cache import DNSCache

from pingd.mesh import peers as peers_module
from pingd.mesh.peers import LinkPeers
from pingd.shared.service import SERVICE_TYPE

_IN, _PTR, _SRV, _TXT, _A = 1, 12, 33, 16, 1


class _Loop:
    """zeroconf's loop, as LinkPeers hands it work: run at once."""

    def call_soon_threadsafe(self, callback: Any, *args: Any) -> None:
        callback(*args)


def _link_peers(*records: Any) -> LinkPeers:
    cache = DNSCache()
    cache.async_add_records(records)
    finder = LinkPeers("self00", ("127.0.0.1",), 10.0)
    finder._zc = SimpleNamespace(cache=cache, loop=_Loop())
    return finder


def _txt(node_id: str) -> bytes:
    items = [b"txtvers=1", b"pv=1", b"ver=0.1.0", b"id=" + node_id.encode()]
    return b"".join(bytes([len(i)]) + i for i in items)


def _instance(name: str, node_id: str, port: int, created: float, srv: bool = True) -> list[Any]:
    full, host = f"{name}.{SERVICE_TYPE}", f"pingd-{node_id}.local."
    out: list[Any] = [DNSPointer(SERVICE_TYPE, _PTR, _IN, 4500, full, created)]
    if srv:
        out += [
            DNSService(full, _SRV, _IN, 120, 0, 0, port, host, created),
            DNSText(full, _TXT, _IN, 4500, _txt(node_id), created),
            DNSAddress(host, _A, _IN, 120, socket.inet_aton("127.0.0.1"), created=created),
        ]
    return out


def test_peers_are_every_resolved_instance_but_this_daemon_with_the_case_they_announced() -> None:
    now = current_time_millis()
    finder = _link_peers(*_instance("Box-A", "aa01", 7001, now), *_instance("self", "self00", 7002, now))
    [peer] = finder.peers()
    assert (peer.name, peer.node_id, peer.address, peer.port) == ("Box-A", "aa01", "127.0.0.1", 7001)


def test_a_record_outside_the_grammar_is_passed_over() -> None:
    now = current_time_millis()
    finder = _link_peers(*_instance("bad\x01name", "bb01", 7001, now), *_instance("good", "cc01", 7002, now))
    assert [p.name for p in finder.peers()] == ["good"]


def test_pointers_left_by_withdrawn_names_leave_the_cache() -> None:
    """A forger renaming its instances leaves a pointer per old name for 75 minutes (its TTL):
    one with no live SRV, older than ORPHAN_MS, is removed, and no question lists it again."""
    now = current_time_millis()
    old = now - peers_module.ORPHAN_MS - 1000
    records = [*_instance("live", "dd01", 7001, now)]
    for i in range(50):
        records += _instance(f"gone-{i}", f"ee{i:02d}", 7100 + i, old, srv=False)
    records += _instance("young", "ff01", 7200, now, srv=False)  # no SRV yet, just heard: kept
    finder = _link_peers(*records)
    assert [p.name for p in finder.peers()] == ["live"]
    left = {r.alias for r in finder._zc.cache.get_all_by_details(SERVICE_TYPE, _PTR, _IN)}
    assert left == {f"live.{SERVICE_TYPE}", f"young.{SERVICE_TYPE}"}


def test_a_question_lists_at_most_the_newest_known_answers() -> None:
    now = current_time_millis()
    records = []
    for i in range(300):
        records += _instance(f"n-{i:03d}", f"a{i:03d}", 7000 + i, now - i)
    finder = _link_peers(*records)
    sent: list[Any] = []
    finder._zc.send = sent.append
    finder.ask(finder.next_question)
    [question] = sent
    listed = [r.alias for r, _ in question.answers]
    assert len(listed) == peers_module.MOST_KNOWN_ANSWERS
    assert f"n-000.{SERVICE_TYPE}" in listed and f"n-299.{SERVICE_TYPE}" not in listed  # the newest first
