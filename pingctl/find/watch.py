"""``discover --watch`` over mDNS: daemons as they come and go, for as long as it runs."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from zeroconf import (
    DNSOutgoing,
    DNSQuestion,
    DNSQuestionType,
    IPVersion,
    ServiceBrowser,
    ServiceStateChange,
    Zeroconf,
    current_time_millis,
)

from pingctl.errors import PingctlError
from pingctl.find.cache import _CLASS_IN, _TYPE_SRV, instance_name, resolve_all
from pingctl.find.found import Found
from pingctl.find.mdns import roomy
from pingd.shared.service import SERVICE_TYPE

_QUERY_FLAGS = 0  # a standard query


def watch(interfaces: tuple[str, ...] = (), stop: Callable[[], bool] = lambda: False) -> Iterator[Found | str]:
    """Daemons as they come (a Found) and go (the name), until ``stop()`` or Ctrl-C.

    Unlike ``find`` and ``browse``, a watcher listens on UDP 5353: it must hear announcements
    and goodbyes, which go to the multicast group. Its questions ask for multicast answers
    (QM), so on the daemon's own host no unicast answer can go to another socket. A daemon
    that says goodbye (SIGTERM) is reported gone at once.

    One that vanishes without a goodbye (SIGKILL, a power cut) goes when its SRV record (where
    it serves; 120 s from pingd) expires. zeroconf's browser alone would keep it for 19
    minutes or more: it holds PTR records at least that long (``_DNS_PTR_MIN_TTL``), and only
    re-asks for those. So the watcher keeps each daemon's SRV record fresh itself, asking for
    it at 80, 85, 90 and 95 % of its lifetime as RFC 6762 §5.2 has a cache do; a live daemon
    answers and stays, a dead one's record runs out.
    """
    try:
        zc = Zeroconf(interfaces=list(interfaces)) if interfaces else Zeroconf(ip_version=IPVersion.V4Only)
    except (OSError, ValueError) as exc:
        raise PingctlError(f"cannot start mDNS discovery ({exc})") from None
    roomy(zc)  # every daemon on the link answers its first question within the same 100 ms
    events: queue.Queue[tuple[str, ServiceStateChange]] = queue.Queue()
    browser = ServiceBrowser(
        zc,
        SERVICE_TYPE,
        handlers=[lambda zeroconf, service_type, name, state_change: events.put((name, state_change))],
        question_type=DNSQuestionType.QM,
    )
    known: dict[str, Found] = {}
    freshness: dict[str, _Freshness] = {}
    pending: dict[str, float] = {}  # heard, records not all here yet: name → when first heard
    try:
        while not stop():
            for full_name in [n for n in known if not _keep_fresh(zc, n, freshness)]:
                del known[full_name]
                yield instance_name(full_name)
            heard = _drain(events, 0.2)
            for full_name, change in heard:
                if change is ServiceStateChange.Removed:
                    pending.pop(full_name, None)
                    if known.pop(full_name, None) is not None:
                        yield instance_name(full_name)
                else:
                    pending.setdefault(full_name, time.monotonic())
            if pending:
                yield from _resolved(zc, pending, known, RESOLVE_WAIT if heard else 0.0)
    finally:
        browser.cancel()
        zc.close()


#: How long the names heard in one turn have for their records, all together (an instance's
#: records usually come with the answer that names it: then no wait at all).
RESOLVE_WAIT = 0.25
#: A name whose records have not come this long after it was heard is let go (forged, or gone
#: before it was resolved); it is taken up again if heard again.
PATIENCE = 10.0


def _drain(events: queue.Queue[tuple[str, ServiceStateChange]], wait: float) -> list[tuple[str, ServiceStateChange]]:
    """The events that came within ``wait`` seconds of the first (none if none came), and
    every one queued behind it: a crowd of daemons is taken in one turn, not one by one."""
    try:
        heard = [events.get(timeout=wait)]
    except queue.Empty:
        return []
    while True:
        try:
            heard.append(events.get_nowait())
        except queue.Empty:
            return heard


def _resolved(zc: Zeroconf, pending: dict[str, float], known: dict[str, Found], wait: float) -> Iterator[Found]:
    """Resolve every pending name at once (never one after another); each new or changed
    daemon. A forged record is as if unheard."""
    for full_name, outcome in resolve_all(zc, list(pending), wait).items():
        if outcome is None:
            if time.monotonic() - pending[full_name] > PATIENCE:
                del pending[full_name]
            continue
        del pending[full_name]
        if isinstance(outcome, Found) and known.get(full_name) != outcome:
            known[full_name] = outcome
            yield outcome


#: When a watcher asks again for a record it holds, in % of the record's lifetime (RFC 6762 §5.2).
REFRESH_AT = (80, 85, 90, 95)


@dataclass(slots=True)
class _Freshness:
    created: float  # ms, zeroconf's clock: which copy of the record the asks were for
    asked: int = 0


def refresh_due(elapsed_percent: float, asked: int) -> bool:
    """Whether to ask again for a record ``elapsed_percent`` through its lifetime, having
    asked ``asked`` times since it was last refreshed."""
    return asked < len(REFRESH_AT) and elapsed_percent >= REFRESH_AT[asked]


def _keep_fresh(zc: Zeroconf, full_name: str, freshness: dict[str, _Freshness]) -> bool:
    """False once the daemon's SRV record has expired; before that, ask for it when due."""
    now = current_time_millis()
    records = [r for r in zc.cache.get_all_by_details(full_name, _TYPE_SRV, _CLASS_IN) if not r.is_expired(now)]
    if not records:
        freshness.pop(full_name, None)
        return False
    newest = max(records, key=lambda r: r.created)
    state = freshness.get(full_name)
    if state is None or state.created != newest.created:
        state = freshness[full_name] = _Freshness(newest.created)
    if newest.ttl and refresh_due(100 * (now - newest.created) / (newest.ttl * 1000), state.asked):
        state.asked += 1
        out = DNSOutgoing(_QUERY_FLAGS)
        out.add_question(DNSQuestion(full_name, _TYPE_SRV, _CLASS_IN))
        zc.send(out)
    return True
