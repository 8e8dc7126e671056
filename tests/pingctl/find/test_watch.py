"""The mDNS watcher's refresh schedule (RFC 6762 §5.2)."""

from __future__ import annotations

import queue
import socket
import time
from pathlib import Path

from zeroconf import ServiceStateChange

from pingctl.find import mdns, watch


def test_a_watched_record_is_asked_for_again_at_80_85_90_and_95_percent_of_its_life():
    asks, asked = [], 0
    for percent in range(0, 101):
        if watch.refresh_due(percent, asked):
            asked += 1
            asks.append(percent)
    assert asks == [80, 85, 90, 95]
    assert not watch.refresh_due(99, 4)


def test_a_crowd_of_events_is_taken_in_one_turn():
    events: queue.Queue = queue.Queue()
    assert watch._drain(events, 0.0) == []
    for i in range(300):
        events.put((f"rack-{i}", ServiceStateChange.Added))
    taken = watch._drain(events, 0.0)
    assert len(taken) == 300 and events.empty()


def test_a_name_whose_records_never_come_is_let_go_after_its_patience(monkeypatch):
    monkeypatch.setattr(watch, "resolve_all", lambda zc, names, wait: dict.fromkeys(names))
    pending = {"late": time.monotonic(), "forged": time.monotonic() - watch.PATIENCE - 1}
    assert list(watch._resolved(None, pending, {}, 0.0)) == []  # type: ignore[arg-type]
    assert list(pending) == ["late"]


def test_a_watcher_asks_for_room_for_a_crowd_of_answers(monkeypatch):
    """Every daemon on the link answers the watcher's first question at once: its sockets ask
    for the one-shot querier's receive buffer too."""
    granted: list[int] = []

    def measured(zc) -> None:
        mdns.roomy(zc)
        granted.extend(r.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) for r in zc.engine.readers)

    monkeypatch.setattr(watch, "roomy", measured)
    assert list(watch.watch(("127.0.0.1",), stop=lambda: True)) == []
    rmem_max = int(Path("/proc/sys/net/core/rmem_max").read_text())
    assert granted and all(size >= min(mdns.RECEIVE_BUFFER, rmem_max) for size in granted)
