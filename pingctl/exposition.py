"""What `pingctl monitor` measured, as Prometheus reads it: each daemon's figures kept as plain
numbers, a collector that turns them into metric families at scrape time, and the HTTP server
(prometheus_client's) that serves them on ``--listen``.

Why a collector over plain numbers rather than the library's labelled metrics: a probe's
outcome is then a few integer increments under one lock (the prober's thread writes, the
server's thread reads), the labels are built once per scrape rather than looked up per probe,
and forgetting a daemon is deleting one entry, its series with it.

Every metric carries the labels ``name``, ``address`` and ``node_id`` (the daemon's instance
name, the ``host:port`` probed, its node id; ``""`` while unknown). A probe is one request
and its answer: ``sent`` = ``received`` + ``lost`` + at most one in flight, and the RTT
histogram holds one observation per answer received.
"""

from __future__ import annotations

import bisect
import errno
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString

from pingctl.errors import PingctlError
from pingd.shared.buckets import RTT_BUCKETS
from pingd.shared.metricsserver import MetricsServer

LABELS = ("name", "address", "node_id")
PREFIX = "pingctl_monitor_"


_LE = tuple(floatToGoString(b) for b in RTT_BUCKETS)


@dataclass(frozen=True, slots=True)
class Labels:
    """Who a series is about."""

    name: str
    address: str
    node_id: str

    def values(self) -> tuple[str, str, str]:
        return (self.name, self.address, self.node_id)


class Series:
    """One daemon's figures. The prober changes them only under ``Figures.lock``."""

    __slots__ = ("buckets", "count", "errors", "listed", "lost", "received", "rtt_sum", "sent", "up")

    def __init__(self) -> None:
        self.sent = 0
        self.received = 0
        self.lost = 0
        self.errors: dict[str, int] = {}
        self.count: int | None = None  # the daemon's count, from its last answer
        self.up: int | None = None  # 1 while it answers, 0 once a probe failed; None before any outcome
        self.listed = 1  # 1 while discovery lists it, 0 in its grace after it left
        self.buckets = [0] * (len(RTT_BUCKETS) + 1)  # per bucket (not cumulative), +Inf last
        self.rtt_sum = 0.0

    def answered(self, rtt_seconds: float, count: int | None) -> None:
        """A probe's answer came ``rtt_seconds`` after its send."""
        self.received += 1
        self.up = 1
        self.buckets[bisect.bisect_left(RTT_BUCKETS, rtt_seconds)] += 1
        self.rtt_sum += rtt_seconds
        if count is not None:
            self.count = count

    def failed(self, kind: str | None) -> None:
        """A probe got no answer in time (``kind`` None), or a failure of that kind instead."""
        self.lost += 1
        self.up = 0
        if kind is not None:
            self.error(kind)

    def error(self, kind: str) -> None:
        """A failure that is no probe's: the daemon is down for the monitor all the same."""
        self.errors[kind] = self.errors.get(kind, 0) + 1
        self.up = 0


class Figures(Collector):
    """Every daemon's series, by labels; a prometheus_client collector of them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.series: dict[Labels, Series] = {}

    def open(self, labels: Labels) -> Series:
        """The series for ``labels``, made if new."""
        with self.lock:
            return self.series.setdefault(labels, Series())

    def move(self, old: Labels, new: Labels) -> Series:
        """The series of ``old`` under ``new`` (a daemon given by address, once it said who it is)."""
        with self.lock:
            series = self.series.pop(old, None) or Series()
            self.series[new] = series
            return series

    def forget(self, labels: Labels) -> None:
        with self.lock:
            self.series.pop(labels, None)

    def listing(self, labels: Labels, listed: bool) -> None:
        """Whether discovery lists the daemon (it left: its grace runs, it is still probed)."""
        with self.lock:
            series = self.series.get(labels)
            if series is not None:
                series.listed = int(listed)

    def collect(self) -> Iterator[Metric]:
        with self.lock:
            rows = [(labels.values(), _copy(s)) for labels, s in self.series.items()]
        yield GaugeMetricFamily(PREFIX + "daemons", _DOCS["daemons"], value=len(rows))
        sent, received, lost, errors, up, listed, count, rtt = _families()
        for values, s in rows:
            sent.add_metric(values, s.sent)
            received.add_metric(values, s.received)
            lost.add_metric(values, s.lost)
            for kind, n in sorted(s.errors.items()):
                errors.add_metric((*values, kind), n)
            if s.up is not None:
                up.add_metric(values, s.up)
            listed.add_metric(values, s.listed)
            if s.count is not None:
                count.add_metric(values, s.count)
            rtt.add_metric(values, _cumulative(s.buckets), s.rtt_sum)
        yield from (sent, received, lost, errors, up, listed, count, rtt)


_DOCS = {
    "daemons": "Daemons probed: those discovery finds, and those gone less than --forget-after ago.",
    "sent": "Probes sent: a PING each (a STATUS to learn who answers at an address counts only if it fails).",
    "received": "Probes answered within --timeout.",
    "lost": "Probes not answered in time, or answered with an error; never sent again.",
    "errors": "Failures other than silence, by kind.",
    "up": "1 while the daemon answers, 0 once its last probe failed.",
    "listed": "1 while discovery lists the daemon, 0 in the grace after it left (a goodbye, a record gone).",
    "daemon_pings_counted": "The daemon's count (pings it has counted), from its last answer.",
    "rtt_seconds": "Round trip of each probe answered.",
}


def _families() -> tuple[CounterMetricFamily, CounterMetricFamily, CounterMetricFamily, CounterMetricFamily,
                         GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily, HistogramMetricFamily]:  # fmt: skip
    """The per-daemon families, empty."""

    def counter(name: str, labels: tuple[str, ...] = LABELS) -> CounterMetricFamily:
        return CounterMetricFamily(PREFIX + name, _DOCS[name], labels=labels)

    def gauge(name: str) -> GaugeMetricFamily:
        return GaugeMetricFamily(PREFIX + name, _DOCS[name], labels=LABELS)

    rtt = HistogramMetricFamily(PREFIX + "rtt_seconds", _DOCS["rtt_seconds"], labels=LABELS)
    return (counter("sent"), counter("received"), counter("lost"), counter("errors", (*LABELS, "kind")),
            gauge("up"), gauge("listed"), gauge("daemon_pings_counted"), rtt)  # fmt: skip


def _copy(s: Series) -> Series:
    """A snapshot of ``s`` (taken under the lock, rendered outside it)."""
    c = Series.__new__(Series)
    for slot in Series.__slots__:
        value = getattr(s, slot)
        setattr(c, slot, value.copy() if isinstance(value, list | dict) else value)
    return c


def _cumulative(per_bucket: list[int]) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    total = 0
    for le, n in zip((*_LE, "+Inf"), per_bucket, strict=True):
        total += n
        out.append((le, total))
    return out


def registry(figures: Figures) -> CollectorRegistry:
    """What ``/metrics`` serves: the daemons' figures, and the library's own metrics of this
    process (CPU, memory, descriptors, garbage collection, Python's version) as every
    exporter has them."""
    from prometheus_client import GCCollector, PlatformCollector, ProcessCollector

    reg = CollectorRegistry(auto_describe=False)
    for make in (ProcessCollector, PlatformCollector, GCCollector):
        make(registry=reg)
    reg.register(figures)
    return reg


def split_host_port(text: str, default_port: int | None, what: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[IPv6]:PORT``, or a bare host (or IPv6 address) when ``default_port``
    is given. PingctlError naming ``what`` if it is none of those."""
    host, port_text = text, ""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise PingctlError(f"{what} takes HOST:PORT or [IPv6]:PORT, not {text!r}")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    if not port_text and default_port is not None:
        return host, default_port
    if not host or not (port_text.isascii() and port_text.isdigit()) or int(port_text) > 65535:
        raise PingctlError(f"{what} takes HOST:PORT (a port 0-65535), not {text!r}")
    return host, int(port_text)


def serve(listen: str, reg: CollectorRegistry) -> tuple[MetricsServer, str]:
    """Serve ``reg`` on ``listen`` from a thread of its own, with the server pingd serves its
    own metrics with (bounded; slow clients hold nothing up): the server (stop it with
    ``stop``) and the URL of the metrics (its real port when 0 was asked)."""
    from prometheus_client import make_wsgi_app

    host, port = split_host_port(listen, None, "--listen")
    try:
        server = MetricsServer.bind(host, port)
    except (OSError, UnicodeError) as exc:
        why = (
            "the address is in use (another monitor?)"
            if getattr(exc, "errno", None) == errno.EADDRINUSE
            else getattr(exc, "strerror", None) or str(exc)
        )
        raise PingctlError(f"cannot serve metrics on {listen}: {why}; choose another with --listen") from None
    server.start(make_wsgi_app(reg))
    return server, server.url


def stop(server: MetricsServer) -> None:
    """End the server's thread and close its socket."""
    server.close()
