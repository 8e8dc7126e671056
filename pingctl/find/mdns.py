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

import queue
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

from zeroconf import (
    DNSOutgoing,
    DNSPointer,
    DNSQuestion,
    IPVersion,
    RecordUpdate,
    RecordUpdateListener,
    ServiceStateChange,
    Zeroconf,
    current_time_millis,
)

from pingctl.errors import PingctlError
from pingctl.find.cache import _CLASS_IN, _TYPE_PTR, instance_name, pointed_to, pointers, resolve_all, usable
from pingctl.find.found import BadRecord, Browsed, Found
from pingd.shared.service import SERVICE_TYPE

_QUERY_FLAGS = 0  # a standard query


def _open(interfaces: tuple[str, ...]) -> Zeroconf:
    """A one-shot querier: sockets on ephemeral ports, on the given interfaces or every IPv4 one."""
    try:
        if interfaces:
            zc = Zeroconf(interfaces=list(interfaces), unicast=True)
        else:
            zc = Zeroconf(ip_version=IPVersion.V4Only, unicast=True)
    except (OSError, ValueError) as exc:
        raise PingctlError(
            f"cannot start mDNS discovery ({exc}); give the daemon's address with --server-ip/--port"
        ) from None
    roomy(zc)
    return zc


#: The receive buffer pingctl asks for: every daemon on the link answers a question at once.
RECEIVE_BUFFER = 4 << 20


def roomy(zc: Zeroconf) -> None:
    """Give zeroconf's sockets room for a crowd of answers.

    Every responder answers a one-shot querier at once, by unicast (RFC 6762 §6.7), and a
    watcher's question within 20–120 ms, by multicast: with 300 daemons on a link, 300
    datagrams arrive within milliseconds, faster than Python parses them, and the default
    receive buffer (212,992 bytes, ~100 such datagrams) dropped most of them (a watcher then
    heard the rest from its next questions, seconds later). The kernel grants up to
    ``net.core.rmem_max``; what it does not grant is not an error.
    """
    for reader in zc.engine.readers:  # zeroconf's sockets are up once Zeroconf() returns
        try:
            reader.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        except OSError:
            pass  # as large as it was: the same discovery, less room for a crowd


@contextmanager
def _browsing(interfaces: tuple[str, ...]) -> Iterator[tuple[Zeroconf, _Events]]:
    """A zeroconf instance asking for pingd, the pointers it hears in a queue; closed on exit."""
    zc = _open(interfaces)
    events = _Events(zc)
    try:
        pointers = _Pointers(events.queue)
        zc.add_listener(pointers, None)
        try:
            yield zc, events
        finally:
            zc.remove_listener(pointers)
    finally:
        zc.close()


class _Pointers(RecordUpdateListener):
    """Every PTR record of pingd's service type that reaches the cache, as an event (zeroconf's
    thread): Added when it comes, Removed when it expires.

    Lighter than zeroconf's ServiceBrowser, which a one-shot querier does not need: it asks on
    a schedule of its own besides pingctl's questions, and with 300 daemons on a link its work
    per answer made a second of the window go by before the events were out.
    """

    def __init__(self, into: queue.Queue[tuple[str, ServiceStateChange]]) -> None:
        super().__init__()
        self._into = into

    def async_update_records(self, zc: Zeroconf, now: float, records: list[RecordUpdate]) -> None:
        for update in records:
            record = update.new
            if record.type == _TYPE_PTR and record.class_ == _CLASS_IN and record.name.lower() == _SERVICE_TYPE:
                change = ServiceStateChange.Removed if record.is_expired(now) else ServiceStateChange.Added
                self._into.put((cast(DNSPointer, record).alias, change))


_SERVICE_TYPE = SERVICE_TYPE.lower()


def _ask(zc: Zeroconf) -> None:
    """Send the PTR question for pingd's service type now, on every interface, with the
    answers already heard (RFC 6762 §7.1, known-answer suppression): a daemon whose pointer is
    listed, with more than half its lifetime left, stays silent. On a link of 300 daemons each
    question would otherwise bring 300 answers again, and the same number multicast to every
    daemon on the link."""
    out = DNSOutgoing(_QUERY_FLAGS)
    out.add_question(DNSQuestion(SERVICE_TYPE, _TYPE_PTR, _CLASS_IN))
    now = current_time_millis()
    for record in zc.cache.get_all_by_details(SERVICE_TYPE, _TYPE_PTR, _CLASS_IN):
        if not record.is_stale(now):
            out.add_answer_at_time(record, now)
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
    """Pointers heard (put by ``_Pointers`` on zeroconf's thread) in a queue the caller's
    thread reads, and the questions that bring them."""

    def __init__(self, zc: Zeroconf) -> None:
        self.queue: queue.Queue[tuple[str, ServiceStateChange]] = queue.Queue()
        self._zc = zc
        self._started = time.monotonic()
        self._schedule = question_times()
        self._next_question = self._started

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
    pending: dict[str, None] = {}  # heard, not yet resolved: asked for again until resolved
    ask_again = 0.0  # when the pending names' records are next asked for
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
            # must not hold up one that answers. Asked for again on the question schedule: a
            # responder may give the pointer while it still probes the instance's own records
            # (avahi-daemon does), and a one-shot querier hears no announcement of them later.
            # Between, only what has reached the cache meanwhile.
            now = time.monotonic()
            asking = event is not None or now >= ask_again
            wait = min(FIND_RESOLVE_WAIT, max(0.0, deadline - now)) if asking else 0.0
            if asking:
                ask_again = now + FIND_RESOLVE_WAIT
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
    return usable(resolve_all(zc, sorted(names), 0.0)).found


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
        pointed = pointers(zc)
        heard = [n for n in present if n.lower() in pointed]  # a PTR of another class is no pingd
        return usable(resolve_all(zc, heard, RESOLVE_GRACE))
