"""What the mesh learned of each peer: kept by the prober's thread, read by the serving loop
(a PEERS reply) and by a scrape (metrics). Pure: times are handed in.

A probe is **lost** when no reply came within its timeout, or when the reply came more than
``LATE`` after the fastest recent reply on the same path. pingd speaks ZeroMQ over TCP, and TCP
hides a dropped segment: it sends it again, after Linux's tail-loss probe or its minimum
retransmission timeout (measured on these links: 110-140 ms and 207 ms later, against a round
trip below 1 ms), so a drop shows as a reply that late, not as no reply. Pingmesh counts drops
the same way, from the retransmission's signature in the latency. ``p50``/``p90`` are of the
recent probes answered in time.

Readers on other threads take ``lock``; the prober holds it only to record one probe.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from pingd.serve.histogram import Histogram
from pingd.shared.buckets import RTT_BUCKETS
from pingd.shared.schema import MAX_PEERS, NO_MESH_TABLE

#: The table of a daemon that does not probe.
NO_MESH: Final = NO_MESH_TABLE

#: A reply this much later than the path's fastest recent one shows a re-sent segment: lost.
LATE: Final = 0.1
#: Probes remembered per peer for the recent figures (and the fastest reply): at the shortest
#: interval allowed and three intervals of window, a few more than the window ever holds.
RECENT: Final = 32


@dataclass(frozen=True, slots=True)
class Peer:
    """A daemon found to probe: what its DNS-SD records said."""

    name: str
    node_id: str | None
    address: str
    port: int
    curve_key: str | None = None

    @property
    def key(self) -> str:
        """Who it is across restarts and moves: its node id, else where it listens."""
        return self.node_id or f"{self.name}@{self.address}:{self.port}"


class PeerRecord:
    """One peer's probes: totals since first probed, the recent ones, the RTT histogram."""

    __slots__ = ("histogram", "last_error", "last_probe", "lost", "peer", "probes", "recent")

    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self.probes = 0
        self.lost = 0
        self.last_error: str | None = None
        self.last_probe: float | None = None
        self.recent: deque[tuple[float, float | None]] = deque(maxlen=RECENT)  # (when, rtt or None: lost)
        self.histogram = Histogram(RTT_BUCKETS)  # every reply's round trip, late ones included

    def answered(self, when: float, rtt: float) -> bool:
        """A reply after ``rtt`` seconds; False if it came so late that it counts as lost."""
        fastest = min((r for _, r in self.recent if r is not None), default=None)
        self.histogram.observe(rtt)
        if fastest is not None and rtt > fastest + LATE:
            self._lost(when, f"reply after {rtt * 1000:.0f} ms, over {LATE * 1000:.0f} ms behind the fastest: re-sent")
            return False
        self._count(when, rtt)
        return True

    def failed(self, when: float, why: str) -> None:
        """No reply: timed out, refused, unreachable (``why``, for people)."""
        self._lost(when, why)

    def _lost(self, when: float, why: str) -> None:
        self.lost += 1
        self.last_error = why
        self._count(when, None)

    def _count(self, when: float, rtt: float | None) -> None:
        self.probes += 1
        self.last_probe = when
        self.recent.append((when, rtt))

    def row(self, now: float, window: float) -> dict[str, Any]:
        """This peer's entry in the PEERS_REPLY table (``schema.PEER_SCHEMA``)."""
        recent = [rtt for when, rtt in self.recent if now - when <= window]
        answered = sorted(r for r in recent if r is not None)
        return {
            "name": self.peer.name,
            "node_id": self.peer.node_id,
            "address": self.peer.address,
            "port": self.peer.port,
            "probes": self.probes,
            "lost": self.lost,
            "recent_probes": len(recent),
            "recent_lost": len(recent) - len(answered),
            "p50_seconds": _quantile(answered, 0.5),
            "p90_seconds": _quantile(answered, 0.9),
            "last_error": self.last_error,
            "last_probe_seconds_ago": None if self.last_probe is None else round(max(0.0, now - self.last_probe), 3),
        }


def _quantile(ordered: list[float], q: float) -> float | None:
    """The nearest-rank quantile (as pingctl's statistics), to the microsecond's tenth."""
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * q // 1))  # ceil(n * q), at least 1
    return round(ordered[int(rank) - 1], 7)


class PeerTable:
    """Every peer the mesh knows, by ``Peer.key``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.records: dict[str, PeerRecord] = {}

    def know(self, peers: Iterable[Peer]) -> None:
        """The peers found now: new ones are added, moved ones updated (same key, new address),
        and ones no longer found forgotten with their figures."""
        found = {peer.key: peer for peer in peers}
        with self.lock:
            for key in list(self.records):
                if key not in found:
                    del self.records[key]
            for key, peer in found.items():
                record = self.records.get(key)
                if record is None:
                    self.records[key] = PeerRecord(peer)
                elif record.peer != peer:
                    record.peer = peer

    def document(self, now: float, interval: float, window: float) -> dict[str, Any]:
        """The PEERS_REPLY table: at most ``MAX_PEERS`` peers, the most recently probed first
        in choice, listed by name."""
        with self.lock:
            records = list(self.records.values())
            chosen = sorted(records, key=lambda r: math.inf if r.last_probe is None else -r.last_probe)[:MAX_PEERS]
            rows = [r.row(now, window) for r in sorted(chosen, key=lambda r: (r.peer.name, r.peer.key))]
        return {
            "mesh": True,
            "interval_seconds": interval,
            "window_seconds": window,
            "peers_known": len(records),
            "peers": rows,
        }
