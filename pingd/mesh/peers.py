"""Finding the peers to probe on the link: a one-shot mDNS querier of the mesh's own (RFC 6762
§5.1), asking for ``_pingd._tcp.local.`` on pingd's mDNS interfaces every ``ASK_EVERY``.

Why not a browser on the responder's socket: the mesh must work the same with either mDNS
backend, and with Avahi pingd holds no socket on port 5353 at all. A one-shot querier asks from
an ephemeral port, so every responder answers it by unicast, at once; its questions list the
peers already heard (known-answer suppression, RFC 6762 §7.1), so on a link of N daemons a
question costs each of them a packet its sieve drops unread, not an answer. Such a querier
hears no goodbyes: a peer that has gone is found out by its probes, and ``forget`` drops it
until it answers a question again.

Every name and value is held to the grammar pingctl holds them to (``pingd.shared.service``);
a record that breaks it is passed over.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from pingd.mesh.table import Peer
from pingd.shared import mdnscache, service
from pingd.shared.addresses import ipv4_first
from pingd.shared.service import SERVICE_TYPE

log = logging.getLogger("pingd")

#: Seconds between the querier's questions once started: a peer that starts is found within
#: this (or the mesh interval, if shorter, but never more often than every second).
ASK_EVERY: Final = 10.0
#: The first questions, in seconds from the start: a fleet started together finds itself fast.
FIRST_QUESTIONS: Final = (0.0, 1.0, 3.0)
#: The most answers a question lists as known (RFC 6762 §7.1 lets a querier list fewer): beyond
#: them a question would fill packet after packet, and the peers not listed merely answer.
MOST_KNOWN_ANSWERS: Final = 256
#: Milliseconds a pointer whose instance has no live SRV record any more is kept: a withdrawn or
#: renamed instance leaves its pointer for 75 minutes (its TTL) otherwise, and a forger renaming
#: 50 a second would fill the cache with them.
ORPHAN_MS: Final = 30_000
#: The most names passed over (bad records) remembered, so each is logged once.
MOST_PASSED_OVER: Final = 4096


class LinkPeers:
    """The peers heard on the link, read from the querier's cache (class IN only)."""

    def __init__(self, own_node_id: str, interfaces: tuple[str, ...], every: float) -> None:
        self._own = own_node_id
        self._interfaces = interfaces
        self._every = every
        self._zc: Any = None
        self._started = 0.0
        self._asked = 0
        self.next_question = 0.0
        self._forgotten: dict[str, float] = {}  # full name (lower) → zeroconf time it was forgotten
        self._passed_over: set[str] = set()

    def open(self, now: float) -> None:
        """Start the querier (its sockets and zeroconf's thread); OSError if none can be had."""
        from zeroconf import IPVersion, Zeroconf

        if self._interfaces:
            self._zc = Zeroconf(interfaces=list(self._interfaces), unicast=True)
        else:
            self._zc = Zeroconf(ip_version=IPVersion.V4Only, unicast=True)
        self._started = self.next_question = now

    def close(self) -> None:
        if self._zc is not None:
            self._zc.close()
            self._zc = None

    def ask(self, now: float) -> None:
        """Ask now if a question is due, with the answers already heard; schedule the next."""
        if self._zc is None or now < self.next_question:
            return
        from zeroconf import DNSOutgoing, DNSQuestion, current_time_millis

        out = DNSOutgoing(0)
        out.add_question(DNSQuestion(SERVICE_TYPE, mdnscache.TYPE_PTR, mdnscache.CLASS_IN))
        ms = current_time_millis()
        known = [
            r
            for r in self._zc.cache.get_all_by_details(SERVICE_TYPE, mdnscache.TYPE_PTR, mdnscache.CLASS_IN)
            if not r.is_stale(ms) and r.alias.lower() not in self._forgotten
        ]
        for record in sorted(known, key=lambda r: -r.created)[:MOST_KNOWN_ANSWERS]:  # the newest first
            out.add_answer_at_time(record, ms)
        for name in self._unresolved(ms):  # heard of, records not in: asked for with the rest
            out.add_question(DNSQuestion(name, mdnscache.TYPE_SRV, mdnscache.CLASS_IN))
            out.add_question(DNSQuestion(name, mdnscache.TYPE_TXT, mdnscache.CLASS_IN))
        self._zc.send(out)
        self._asked += 1
        if self._asked < len(FIRST_QUESTIONS):
            self.next_question = self._started + FIRST_QUESTIONS[self._asked]
        else:
            self.next_question = now + self._every

    def _unresolved(self, ms: float) -> list[str]:
        names = mdnscache.pointers(self._zc, ms)
        return [n for n in sorted(names) if mdnscache.records(self._zc, n, ms) is None][:20]

    def peers(self) -> list[Peer]:
        """Every peer heard and resolved, but this daemon and the forgotten ones."""
        if self._zc is None:
            return []
        from zeroconf import current_time_millis

        ms = current_time_millis()
        found = []
        pointers = mdnscache.live(self._zc, SERVICE_TYPE, mdnscache.TYPE_PTR, ms)
        orphans = [
            r
            for r in pointers
            if ms - r.created > ORPHAN_MS and not mdnscache.live(self._zc, r.alias, mdnscache.TYPE_SRV, ms)
        ]
        if orphans:  # withdrawn or renamed: out of the cache, off the known-answer lists
            self._zc.loop.call_soon_threadsafe(self._zc.cache.async_remove_records, orphans)
        gone = {r.alias.lower() for r in orphans}
        aliases = {r.alias.lower(): r.alias for r in pointers if r.alias.lower() not in gone}
        self._forgotten = {name: at for name, at in self._forgotten.items() if name in aliases}
        if len(self._passed_over) > MOST_PASSED_OVER:
            self._passed_over.clear()
        for full_name in sorted(aliases.values()):  # as announced: the case of a name is the peer's
            if self._still_forgotten(full_name.lower(), ms):
                continue
            peer = self._peer(full_name, ms)
            if peer is not None and peer.node_id != self._own:
                found.append(peer)
        return found

    def forget(self, peer: Peer) -> None:
        """Stop probing ``peer`` (silent for long) until it answers a question again."""
        if self._zc is None:
            return
        from zeroconf import current_time_millis

        self._forgotten[f"{peer.name}.{SERVICE_TYPE}".lower()] = current_time_millis()

    def _still_forgotten(self, full_name: str, ms: float) -> bool:
        since = self._forgotten.get(full_name)
        if since is None:
            return False
        heard = max((r.created for r in mdnscache.live(self._zc, full_name, mdnscache.TYPE_SRV, ms)), default=0.0)
        if heard > since:  # it answered a question since
            del self._forgotten[full_name]
            return False
        return True

    def _peer(self, full_name: str, ms: float) -> Peer | None:
        name = full_name[: -len(SERVICE_TYPE) - 1]
        records = mdnscache.records(self._zc, full_name, ms)
        if records is None:
            return None
        try:
            problem = service.instance_name_problem(name)
            if problem is not None:
                raise service.BadRecord(problem)
            txt = service.decode_txt(records.txt)
            if not 0 < records.port <= 65535:
                raise service.BadRecord(f"its port {records.port} is no port")
        except service.BadRecord as exc:
            if full_name not in self._passed_over:
                self._passed_over.add(full_name)
                log.debug("mesh: passing over %r: %s", name[:80], exc)
            return None
        address = ipv4_first(records.addresses)[0]
        return Peer(name=name, node_id=txt.node_id, address=address, port=records.port, curve_key=txt.curve_key)
