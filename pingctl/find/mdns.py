"""Finding pingd daemons on the LAN by DNS-SD over mDNS (``_pingd._tcp.local.``).

``find`` returns as soon as the first usable answer arrives (one daemon on the network: no
fixed wait); ``browse`` collects every answer for a set time, as ``avahi-browse -t`` does.
Imported only on the discovery path: zeroconf costs start-up time that address-given
commands should not pay.

pingctl asks as a one-shot querier (RFC 6762 §5.1, §6.7): its questions leave from an
ephemeral port, never 5353, so every responder answers straight to that port by unicast,
at once, and no other socket can receive the answer. A browser that shares UDP 5353 asks
for unicast answers (QU) to port 5353, and on the daemon's own host the kernel may hand
that datagram to the daemon's socket instead (a second lost); asking for multicast answers
(QM) waits out the responder's 20–120 ms delay for shared records. The first question goes
out at once, not after the 20–120 ms a long-running browser waits against start-up storms
(one person's command is none), and more follow on a short schedule (``question_times``):
such a querier hears no announcements or goodbyes, so it asks to learn of a daemon that
came up meanwhile.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from zeroconf import (
    DNSOutgoing,
    DNSQuestion,
    DNSQuestionType,
    IPVersion,
    ServiceBrowser,
    ServiceInfo,
    ServiceStateChange,
    Zeroconf,
    current_time_millis,
)

from pingctl.errors import PingctlError
from pingctl.find.found import BadRecord, Browsed, Found, found_from
from pingctl.show.text import shown
from pingd.shared import service
from pingd.shared.service import SERVICE_TYPE


def instance_name(full_name: str) -> str:
    return full_name.removesuffix("." + SERVICE_TYPE)


_QUERY_FLAGS = 0  # a standard query
_TYPE_A = 1
_TYPE_PTR = 12
_TYPE_TXT = 16
_TYPE_AAAA = 28
_TYPE_SRV = 33
_CLASS_IN = 1


def _open(interfaces: tuple[str, ...]) -> Zeroconf:
    """A one-shot querier: sockets on ephemeral ports, on the given interfaces or every IPv4 one."""
    try:
        if interfaces:
            return Zeroconf(interfaces=list(interfaces), unicast=True)
        return Zeroconf(ip_version=IPVersion.V4Only, unicast=True)
    except (OSError, ValueError) as exc:
        raise PingctlError(
            f"cannot start mDNS discovery ({exc}); give the daemon's address with --server-ip/--port"
        ) from None


def found_in(info: ServiceInfo, full_name: str) -> Found:
    """What a resolved DNS-SD record says of a daemon, each value checked (BadRecord if one
    breaks its grammar, or the record gives no way to reach the daemon)."""
    return found_from(
        name=instance_name(full_name),
        host=info.server or "",
        addresses=info.parsed_scoped_addresses(IPVersion.All),
        port=info.port or 0,
        txt=service.txt_items(txt_strings(info.text or b"")),
    )


def txt_strings(rdata: bytes) -> list[bytes]:
    """The strings of TXT rdata, each a length byte and that many bytes (RFC 1035 §3.3.14)."""
    strings: list[bytes] = []
    offset = 0
    while offset < len(rdata):
        length = rdata[offset]
        strings.append(rdata[offset + 1 : offset + 1 + length])
        offset += 1 + length
    return strings


@contextmanager
def _browsing(interfaces: tuple[str, ...]) -> Iterator[tuple[Zeroconf, _Events]]:
    """A zeroconf instance browsing for pingd, its events in a queue; closed on exit."""
    zc = _open(interfaces)
    events = _Events(zc)
    try:
        browser = ServiceBrowser(zc, SERVICE_TYPE, handlers=[events])
        try:
            yield zc, events
        finally:
            browser.cancel()
    finally:
        zc.close()


def _ask(zc: Zeroconf) -> None:
    """Send the PTR question for pingd's service type now, on every interface."""
    out = DNSOutgoing(_QUERY_FLAGS)
    out.add_question(DNSQuestion(SERVICE_TYPE, _TYPE_PTR, _CLASS_IN))
    zc.send(out)


def question_times() -> Iterator[float]:
    """When to ask, in seconds from the start: at once, every 250 ms for two seconds, then
    every second. A one-shot querier hears no announcements, so it asks again to learn of a
    daemon that ends its ~1 s name probe meanwhile (one just started). This is faster than
    RFC 6762 §5.2 asks of a continuous browser (a second, then doubling); pingctl's questions
    stop with its window (``--discovery-timeout``, 3 s by default: 9 questions at most), and
    one that is answered ends the search at once."""
    yield from (i * 0.25 for i in range(8))
    seconds = 2.0
    while True:
        yield seconds
        seconds += 1.0


class _Events:
    """Browser callbacks (on zeroconf's thread) into a queue the caller's thread reads,
    and the questions that bring them."""

    def __init__(self, zc: Zeroconf) -> None:
        self.queue: queue.Queue[tuple[str, ServiceStateChange]] = queue.Queue()
        self._zc = zc
        self._started = time.monotonic()
        self._schedule = question_times()
        self._next_question = self._started

    def __call__(self, zeroconf, service_type, name, state_change) -> None:
        self.queue.put((name, state_change))

    def until(self, deadline: float, stop: threading.Event | None = None) -> Iterator[tuple[str, ServiceStateChange]]:
        """The events as they come, until the monotonic ``deadline`` (or ``stop`` is set, looked
        at every 50 ms); asks on schedule."""
        for event in self.ticking(deadline, stop):
            if event is not None:
                yield event

    def ticking(
        self, deadline: float, stop: threading.Event | None = None
    ) -> Iterator[tuple[str, ServiceStateChange] | None]:
        """As ``until``, and None whenever a wait passes with no event (at least every 50 ms
        with ``stop``, else at each question), for a caller with something to try again."""
        while (now := time.monotonic()) < deadline and not (stop is not None and stop.is_set()):
            if now >= self._next_question:
                _ask(self._zc)
                while self._next_question <= now:
                    self._next_question = self._started + next(self._schedule)
            wait = min(deadline, self._next_question) - now
            try:
                yield self.queue.get(timeout=wait if stop is None else min(wait, 0.05))
            except queue.Empty:
                yield None


def instance_of(full_name: str) -> str:
    """The instance name in ``<instance>._pingd._tcp.local.``; BadRecord for a pointer to any
    other name, or an instance name outside the grammar (checked before zeroconf, which
    raises on some of them, ever sees it)."""
    suffix = "." + SERVICE_TYPE
    if not full_name.lower().endswith(suffix.lower()):
        raise BadRecord(f"{shown(full_name[:80])!r}: a pointer to a name outside {SERVICE_TYPE}")
    name = full_name[: -len(suffix)]
    problem = service.instance_name_problem(name)
    if problem is not None:
        raise BadRecord(f"'{shown(name[:80])}': {problem}")
    return name


def _live(zc: Zeroconf, name: str, rdtype: int, now: float) -> list:
    """The cached records of ``name`` of this type and class IN that have not expired: a
    record of another class is not what pingctl asked for, and is never used."""
    return [r for r in zc.cache.get_all_by_details(name, rdtype, _CLASS_IN) if not r.is_expired(now)]


def pointed_to(zc: Zeroconf, full_name: str) -> bool:
    """Whether a class-IN PTR record of the service type points at ``full_name``."""
    now = current_time_millis()
    return any(r.alias.lower() == full_name.lower() for r in _live(zc, SERVICE_TYPE, _TYPE_PTR, now))


def from_cache(zc: Zeroconf, full_name: str) -> Found | None:
    """A daemon from the class-IN SRV, TXT and address records in zeroconf's cache; None while
    they are not all there. Raises BadRecord for a value outside its grammar."""
    name = instance_of(full_name)
    now = current_time_millis()
    srvs = _live(zc, full_name, _TYPE_SRV, now)
    if not srvs:
        return None
    srv = max(srvs, key=lambda r: r.created)
    addresses = [_address_text(r) for kind in (_TYPE_A, _TYPE_AAAA) for r in _live(zc, srv.server, kind, now)]
    if not addresses:
        return None
    txts = _live(zc, full_name, _TYPE_TXT, now)
    text = max(txts, key=lambda r: r.created).text if txts else b""
    return found_from(
        name=name,
        host=srv.server,
        addresses=[a for a in addresses if a],
        port=srv.port,
        txt=service.txt_items(txt_strings(text)),
    )


def _address_text(record) -> str:
    """An A or AAAA record's address as text (a link-local IPv6 one with its scope)."""
    try:
        text = socket.inet_ntop(socket.AF_INET6 if len(record.address) == 16 else socket.AF_INET, record.address)
    except (ValueError, OSError):
        return ""
    scope = getattr(record, "scope_id", None)
    return f"{text}%{scope}" if scope and text.lower().startswith("fe80") else text


#: What resolving one instance came to: a daemon, a refused record, or nothing (yet).
Outcome = Found | BadRecord | None


def resolve_all(zc: Zeroconf, full_names: list[str], timeout: float) -> dict[str, Outcome]:
    """Every instance's records: those already cached at once (answers to the PTR question
    carry them), the rest asked for all together on zeroconf's loop, never one after
    another, within ``timeout``. Only class-IN records pointed to by a class-IN PTR count."""
    outcomes: dict[str, Outcome] = {}
    missing: list[str] = []
    for full_name in full_names:
        outcome = _outcome(zc, full_name)
        outcomes[full_name] = outcome
        if outcome is None:
            missing.append(full_name)
    if missing and timeout > 0 and zc.loop is not None:
        from zeroconf.asyncio import AsyncServiceInfo

        async def one(full_name: str) -> None:
            await AsyncServiceInfo(SERVICE_TYPE, full_name).async_request(zc, max(1.0, timeout * 1000))

        async def every() -> None:
            await asyncio.gather(*(one(n) for n in missing))

        future = asyncio.run_coroutine_threadsafe(every(), zc.loop)
        try:
            future.result(timeout + 0.5)
        except (TimeoutError, concurrent.futures.TimeoutError):
            future.cancel()
        for full_name in missing:
            outcomes[full_name] = _outcome(zc, full_name)
    return outcomes


def _outcome(zc: Zeroconf, full_name: str) -> Outcome:
    try:
        return from_cache(zc, full_name)
    except BadRecord as exc:
        return exc


def _usable(outcomes: dict[str, Outcome]) -> Browsed:
    """The daemons resolved; the refused and the unresolved counted apart."""
    seen = Browsed([])
    for outcome in outcomes.values():
        if isinstance(outcome, Found):
            seen.found.append(outcome)
        elif isinstance(outcome, BadRecord):
            seen.ignored.append(str(outcome))
        else:
            seen.unresolved += 1
    seen.found.sort(key=lambda f: f.name.lower())
    return seen


#: How long ``find`` waits for the records of the names heard so far, before listening again.
FIND_RESOLVE_WAIT = 0.25


def find(
    name: str | None, timeout: float, interfaces: tuple[str, ...] = (), stop: threading.Event | None = None
) -> tuple[Found, list[Found]]:
    """The first daemon to answer (or the one called ``name``), and the others seen by then.
    ``stop`` ends the search early (another way found one first). A record that breaks the
    grammar is passed over, as if it had not been heard, and named if nothing else is found."""
    deadline = time.monotonic() + timeout
    ignored: list[str] = []
    pending: dict[str, None] = {}  # heard, not yet resolved: tried again with each new event
    with _browsing(interfaces) as (zc, events):
        for event in events.ticking(deadline, stop):
            if event is not None:
                full_name, change = event
                if change is ServiceStateChange.Removed:
                    pending.pop(full_name, None)
                    continue
                if name is not None and instance_name(full_name).lower() != name.lower():
                    continue
                if pointed_to(zc, full_name):  # a PTR of another class is no pingd
                    pending[full_name] = None
            if not pending:
                continue
            # All at once, briefly: a name whose records never come (forged, or a daemon gone)
            # must not hold up one that answers.
            # On a tick, only what has reached the cache meanwhile.
            wait = 0.0 if event is None else min(FIND_RESOLVE_WAIT, max(0.0, deadline - time.monotonic()))
            for heard, outcome in resolve_all(zc, list(pending), wait).items():
                if outcome is None:
                    continue
                del pending[heard]
                if isinstance(outcome, BadRecord):
                    ignored.append(str(outcome))
                    continue
                found = outcome
                others = _seen_so_far(zc, events, exclude=heard) if name is None else []
                return found, others
    what = f"no pingd named '{name}'" if name else "no pingd"
    if ignored:
        raise PingctlError(f"{what} found by mDNS within {timeout:g} s; ignored a record: {ignored[0]}")
    raise PingctlError(
        f"{what} found by mDNS within {timeout:g} s; mDNS may be blocked on this network: "
        "give the address with --server-ip/--port, or raise --discovery-timeout"
    )


def _seen_so_far(zc: Zeroconf, events: _Events, exclude: str) -> list[Found]:
    """Daemons that answered alongside the chosen one, resolved from what is cached."""
    names = set()
    while True:
        try:
            full_name, change = events.queue.get_nowait()
        except queue.Empty:
            break
        if change is not ServiceStateChange.Removed and full_name != exclude:
            names.add(full_name)
    return _usable(resolve_all(zc, sorted(names), 0.0)).found


#: After the window, how long instances heard in it have for their records to come.
RESOLVE_GRACE = 0.5


def browse(timeout: float, interfaces: tuple[str, ...] = ()) -> Browsed:
    """Every daemon that answers within ``timeout`` seconds and has not said goodbye; those
    whose records are still missing then get ``RESOLVE_GRACE`` more, all at once."""
    deadline = time.monotonic() + timeout
    present: dict[str, None] = {}
    with _browsing(interfaces) as (zc, events):
        for full_name, change in events.until(deadline):
            if change is ServiceStateChange.Removed:
                present.pop(full_name, None)
            else:
                present[full_name] = None
        heard = [n for n in present if pointed_to(zc, n)]  # a PTR of another class is no pingd
        return _usable(resolve_all(zc, heard, RESOLVE_GRACE))


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
    events: queue.Queue[tuple[str, ServiceStateChange]] = queue.Queue()
    browser = ServiceBrowser(
        zc,
        SERVICE_TYPE,
        handlers=[lambda zeroconf, service_type, name, state_change: events.put((name, state_change))],
        question_type=DNSQuestionType.QM,
    )
    known: dict[str, Found] = {}
    freshness: dict[str, _Freshness] = {}
    try:
        while not stop():
            for full_name in [n for n in known if not _keep_fresh(zc, n, freshness)]:
                del known[full_name]
                yield instance_name(full_name)
            try:
                full_name, change = events.get(timeout=0.2)
            except queue.Empty:
                continue
            if change is ServiceStateChange.Removed:
                if known.pop(full_name, None) is not None:
                    yield instance_name(full_name)
                continue
            outcome = resolve_all(zc, [full_name], 1.0)[full_name]
            found = outcome if isinstance(outcome, Found) else None  # a forged record: as if unheard
            if found is not None and known.get(full_name) != found:
                known[full_name] = found
                yield found
    finally:
        browser.cancel()
        zc.close()


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
