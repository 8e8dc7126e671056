"""What `pingctl monitor` does: probe every daemon discovery finds (or every address given),
for as long as it runs, and serve what the probes measure as Prometheus metrics.

Three kinds of thread, a fixed number of each whatever the fleet: this one runs the prober's
poll loop (``pingctl.probing``) and applies discovery's news between its turns; discovery's
sources run in threads of their own (``pingctl.find.follow``), each handing its news over a
queue and waking the loop through a socket pair; prometheus_client's HTTP server answers
scrapes in its own (``pingctl.exposition``). Which daemons are probed, and until when after
they leave, is ``pingctl.roster``'s bookkeeping.

SIGINT and SIGTERM set a flag and wake the loop (Python's wake-up descriptor writes to the
same socket pair): the loop ends between two turns, and everything is closed in order.
"""

from __future__ import annotations

import contextlib
import queue
import resource
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import zmq

from pingctl import exposition, trust
from pingctl.commands.monitor import DEFAULT_LISTEN
from pingctl.errors import PingctlError
from pingctl.exposition import Figures, Labels
from pingctl.find.follow import News
from pingctl.find.found import Found
from pingctl.model import Target
from pingctl.probing import Probe, Prober
from pingctl.roster import Roster
from pingctl.show.text import shown

#: ZeroMQ sockets (one per daemon probed) and descriptors the monitor makes room for.
MAX_DAEMONS = 8192


@dataclass(frozen=True, slots=True)
class Plan:
    """What the command line asks for."""

    interval: float = 1.0
    timeout: float = 1.0
    forget_after: float = 300.0
    listen: str = DEFAULT_LISTEN
    interfaces: tuple[str, ...] = ()
    domain: str | None = None
    names: tuple[str, ...] = ()
    given: tuple[str, ...] = ()  # addresses (HOST or HOST:PORT): no discovery
    port: int = 7464
    server_key: str | None = None


Key = tuple[str, str]  # a record: (source, instance name)


class Monitor:
    """Discovery's news turned into probes and series, and series forgotten after their grace."""

    def __init__(self, figures: Figures, prober: Prober, plan: Plan, say: Callable[[str], None]) -> None:
        self.figures = figures
        self.prober = prober
        self.roster: Roster[Key, Labels] = Roster(plan.forget_after)
        self.probes: dict[Labels, Probe | None] = {}  # None: a daemon whose key is refused, not probed
        self.names = {n.lower() for n in plan.names}
        self.say = say

    def news(self, item: tuple[str, Found | str], now: float) -> None:
        source, what = item
        if isinstance(what, Found):
            self.found(source, what, now)
        else:
            self.gone((source, what), now)

    def found(self, source: str, found: Found, now: float) -> None:
        """A daemon found, or changed (another address, node id or key)."""
        if self.names and found.name.lower() not in self.names:
            return
        target = found.targets()[0]
        labels = Labels(found.name, target.display, found.node_id or "")  # raw: the exposition escapes
        before = self.roster.subject((source, found.name))
        new = self.roster.hold((source, found.name), labels, now)
        self.figures.listing(labels, True)  # back within its grace, if it had left
        if before is not None and before != labels:
            self._left(before)
        probe = self.probes.get(labels)
        if not new and (probe is None or probe.target.server_key == target.server_key):
            return
        if probe is not None:  # the same daemon, another key: vetted afresh
            self.prober.retire(probe)
        self.probes[labels] = self._probe(found, labels, now)
        if new:
            self.say(f"+ {shown(labels.name)} {labels.address} {labels.node_id or '?'}")

    def _probe(self, found: Found, labels: Labels, now: float) -> Probe | None:
        from pingctl.connect import vet

        series = self.figures.open(labels)
        try:
            unpinned = vet(found, None, None)
        except PingctlError as exc:  # its key differs from the one pinned (or known_hosts is unusable)
            with self.figures.lock:
                series.error("key_refused")
            print(f"pingctl: not probing {shown(labels.name)} at {labels.address}: {shown(str(exc))}", file=sys.stderr)
            return None
        on_answer = None
        if unpinned is not None:

            def on_answer() -> None:
                try:
                    note = trust.record(unpinned.name, unpinned.node_id, unpinned.key)
                except PingctlError as exc:
                    note = str(exc)
                if note:
                    print(f"pingctl: {shown(note)}", file=sys.stderr)

        probe = Probe(found.targets()[0], labels, series, on_answer=on_answer)
        return self.prober.add(probe, now)

    def gone(self, key: Key, now: float) -> None:
        """A record gone (a goodbye, a record expired, a domain that no longer lists it)."""
        labels = self.roster.subject(key)
        self.roster.release(key, now)
        if labels is not None:
            self._left(labels)

    def _left(self, labels: Labels) -> None:
        if self.roster.leaving(labels):
            self.figures.listing(labels, False)
            grace = self.roster.grace
            self.say(f"- {shown(labels.name)} {labels.address} (gone; its series go in {grace:g} s unless it returns)")

    def forget_due(self, now: float) -> None:
        """Retire the daemons whose grace ran out, and remove their series."""
        for labels in self.roster.due(now):
            probe = self.probes.pop(labels, None)
            if probe is not None:
                self.prober.retire(probe)
            self.figures.forget(labels)
            self.say(f"x {shown(labels.name)} {labels.address} forgotten")

    def add_given(self, target: Target, now: float) -> None:
        """A daemon given by address: probed for as long as the monitor runs."""
        labels = Labels("", target.display, "")
        self.prober.add(Probe(target, labels, self.figures.open(labels), given=True), now)


def given_targets(plan: Plan) -> list[Target]:
    """Where each address given is (the first address a host name resolves to); a ClientError
    for one that does not resolve, a PingctlError for one that is no HOST[:PORT]."""
    from pingctl.connection import resolve_target

    targets = []
    for text in plan.given:
        host, port = exposition.split_host_port(text, plan.port, "--server-ip")
        if port == 0:
            raise PingctlError(f"--server-ip takes a port 1-65535, not {text!r}")
        targets.append(replace(resolve_target(host, port)[0], server_key=plan.server_key))
    return targets


def monitor(plan: Plan) -> int:
    """Run until SIGINT or SIGTERM; 0 then. A listen address in use, an address that does not
    resolve or a discovery source that cannot start is a PingctlError (one line, exit 2)."""
    given = given_targets(plan)
    figures = Figures()
    server, url = exposition.serve(plan.listen, exposition.registry(figures))
    reader, writer = socket.socketpair()
    context = _context()
    stop = threading.Event()
    threads: list[threading.Thread] = []
    try:
        for end in (reader, writer):
            end.setblocking(False)
        prober = Prober(figures, plan.interval, plan.timeout, context, trust.client_keys)
        prober.watch(reader.fileno())
        mon = Monitor(figures, prober, plan, _say)
        inbox: queue.SimpleQueue[News] = queue.SimpleQueue()
        with _signals(writer) as stopped:
            _say(f"pingctl monitor: metrics on {url}; probing {_what(plan)} every {plan.interval:g} s (Ctrl-C to stop)")
            for target in given:
                mon.add_given(target, time.monotonic())
            if not given:
                from pingctl.find.follow import follow

                threads = follow(plan.interfaces, plan.domain, _mailer(inbox, writer), stop)
            _loop(mon, prober, reader, inbox, stopped)
    finally:
        stop.set()
        for thread in threads[:1]:  # mDNS's (or the domain's): zeroconf closed before exit
            thread.join(2)
        context.destroy(linger=0)
        exposition.stop(server)
        reader.close()
        writer.close()
    return 0


def _loop(
    mon: Monitor, prober: Prober, reader: socket.socket, inbox: queue.SimpleQueue[News], stopped: Callable[[], bool]
) -> None:
    while not stopped():
        prober.turn(mon.roster.next_due())
        with contextlib.suppress(BlockingIOError):
            while reader.recv(4096):
                pass
        now = time.monotonic()
        while True:
            try:
                item = inbox.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, PingctlError):
                raise item
            mon.news(item, now)
        mon.forget_due(now)
    prober.close()


def _mailer(inbox: queue.SimpleQueue[News], writer: socket.socket) -> Callable[[News], None]:
    """What discovery's threads call with their news: queued, and the loop woken."""

    def post(item: News) -> None:
        inbox.put(item)
        with contextlib.suppress(OSError):  # full (the loop is behind: it will drain all) or closed
            writer.send(b"\0")

    return post


@contextlib.contextmanager
def _signals(writer: socket.socket) -> Iterator[Callable[[], bool]]:
    """Within the block, SIGINT and SIGTERM set a flag and wake the loop's poll."""
    hit = threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    for sig in previous:
        signal.signal(sig, lambda signum, frame: hit.set())
    try:
        yield hit.is_set
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(previous_fd)


def _context() -> zmq.Context:
    """A ZeroMQ context with room for ``MAX_DAEMONS`` sockets, the descriptor limit raised to
    match as far as the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = MAX_DAEMONS + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        with contextlib.suppress(OSError, ValueError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
    context = zmq.Context()
    context.max_sockets = MAX_DAEMONS + 64
    return context


def _what(plan: Plan) -> str:
    if plan.given:
        return ", ".join(plan.given)
    which = f"the pingd named {', '.join(plan.names)}" if plan.names else "each pingd"
    return f"{which} registered in {plan.domain}" if plan.domain else f"{which} discovery finds"


def _say(line: str) -> None:
    print(line, flush=True)
