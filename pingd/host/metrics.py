"""What pingd tells Prometheus: a custom collector, read at scrape time.

prometheus-client's own metric objects would put a lock and a call on every ping. This collector
(the library's custom-collector pattern) instead reads, when a scrape asks, what the daemon keeps
anyway: the actor's counts, the loop's tallies of requests other than PING and of ERROR replies,
persistence's failures, the store's fdatasync histogram (pingd.serve.histogram), the descriptor
watch and the idle-peer table, each announcer's ``describe()``. A ping costs nothing more with
metrics on. It runs on a scrape's own thread and only reads: ints and strings, a list copied in
one step, dicts whose keys were all made at start (so none grows while it is read).

Names follow Prometheus' conventions: the ``pingd_`` prefix, base units in the name
(``_seconds``), ``_total`` on counters, ``_info`` gauges of 1 that carry labels. The process
metrics are the library's (``process_*``: CPU, memory, descriptors and their limit, start time),
with the boot time found without ``/proc/stat``, which the hardened unit hides (ProcSubset=pid).
docs/operating.md, "Metrics", lists every metric.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Final

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from pingd.serve.histogram import Snapshot
from pingd.shared import protocol
from pingd.shared.protocol import ErrorCode

if TYPE_CHECKING:
    from pingd.announce.announcement import Announcer
    from pingd.daemon import Daemon
    from pingd.host.exporter import WsgiApp

#: Error codes answered to a PING (the rest answer what was not a valid request).
PING_ERRORS: Final = (ErrorCode.STORAGE_FAILED, ErrorCode.COUNT_EXHAUSTED)
#: How each announcer's ``describe()`` begins, and the label it is reported under.
WAYS: Final = (("mDNS: ", "mdns"), ("DNS: ", "dns"))
#: The states ``describe()`` reports once the daemon is known that way.
ANNOUNCED: Final = ("mDNS: announced as ", "DNS: registered as ")


class PingdCollector(Collector):
    """Every ``pingd_*`` metric, read from ``daemon`` at each scrape."""

    def __init__(self, daemon: Daemon) -> None:
        self._daemon = daemon

    def collect(self) -> Iterator[Metric]:
        daemon = self._daemon
        actor, loop = daemon.actor, daemon.loop
        identity = actor.identity
        yield _gauge(
            "pingd_build_info", "pingd's version and the protocol version it speaks.",
            1, version=identity.version, protocol=str(protocol.VERSION),
        )  # fmt: skip
        yield _gauge(
            "pingd_info", "The daemon's node id, its announced name, durability and security.",
            1, node_id=identity.node_id, name=identity.name, durability=identity.durability, security=identity.security,
        )  # fmt: skip
        served = actor.committed_served
        errors = dict(loop.errors)  # every code is a key from the start: the copy is one step
        yield CounterMetricFamily("pingd_pings_served", "PINGs answered with a PONG since start.", served)
        requests = CounterMetricFamily(
            "pingd_requests",
            "Requests answered since start, by type (ping: PONG or ERROR; probe: a peer's mesh probe).",
            labels=["type"],
        )
        requests.add_metric(["ping"], served + sum(errors[code] for code in PING_ERRORS))
        requests.add_metric(["status"], loop.status_requests)
        requests.add_metric(["probe"], loop.probes_served)
        requests.add_metric(["peers"], loop.peers_requests)
        requests.add_metric(["invalid"], sum(n for code, n in errors.items() if code not in PING_ERRORS))
        yield requests
        by_code = CounterMetricFamily("pingd_errors", "ERROR replies sent, by code.", labels=["code", "reason"])
        for code, n in errors.items():
            by_code.add_metric([str(int(code)), code.name.lower()], n)
        yield by_code
        yield CounterMetricFamily(
            "pingd_pings_counted", "The count: pings counted over the state file's life, as persisted.", actor.committed
        )
        yield from self._storage()
        yield from self._connections()
        yield from _announced(daemon.announcers)
        if daemon.mesh is not None:
            from pingd.mesh.metrics import mesh_metrics

            yield from mesh_metrics(daemon.mesh)

    def _storage(self) -> Iterator[Metric]:
        daemon = self._daemon
        yield GaugeMetricFamily(
            "pingd_storage_failing", "1 while the count cannot be persisted (pings are refused), else 0.",
            1 if daemon.actor.storage_error is not None else 0,
        )  # fmt: skip
        failures = daemon.loop.persistence.failures
        yield CounterMetricFamily("pingd_storage_failures", "Writes and syncs of the state file that failed.", failures)
        syncs = daemon.store.syncs.snapshot()
        yield _histogram("pingd_state_sync_duration_seconds", "How long each fdatasync of the state file took.", syncs)
        if daemon.loop.persistence.always:
            yield _histogram(
                "pingd_sync_batch_requests", "Requests answered after one group commit (--sync always).",
                daemon.loop.batches.snapshot(),
            )  # fmt: skip

    def _connections(self) -> Iterator[Metric]:
        watch = self._daemon.descriptor_watch
        if watch.evictor is not None:
            yield GaugeMetricFamily(
                "pingd_connections", "TCP connections to the serving port, at the last descriptor count.",
                watch.evictor.connections,
            )  # fmt: skip
        yield GaugeMetricFamily(
            "pingd_descriptors_short", "1 while descriptors run short and idle peers are evicted, else 0.",
            1 if watch.short else 0,
        )  # fmt: skip
        yield CounterMetricFamily("pingd_idle_peers_evicted", "Idle peers evicted since start.", watch.evicted_total)


def _announced(announcers: Sequence[Announcer]) -> Iterator[Metric]:
    """``pingd_announced{via}``: one series per way the daemon is made known (none when it is not)."""
    family = GaugeMetricFamily(
        "pingd_announced", "1 while the daemon is announced this way (mdns, dns), else 0.", labels=["via"]
    )
    for announcer in announcers:
        text = announcer.describe()
        via = next((label for prefix, label in WAYS if text.startswith(prefix)), None)
        if via is not None:
            family.add_metric([via], 1 if text.startswith(ANNOUNCED) else 0)
    yield family


def _gauge(metric: str, doc: str, value: float, **labels: str) -> GaugeMetricFamily:
    family = GaugeMetricFamily(metric, doc, labels=list(labels))
    family.add_metric(list(labels.values()), value)
    return family


def _histogram(name: str, doc: str, snapshot: Snapshot) -> HistogramMetricFamily:
    buckets = [(floatToGoString(bound), count) for bound, count in snapshot.buckets]
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=snapshot.total)


class _Process(ProcessCollector):
    """The library's process metrics, with the boot time (for ``process_start_time_seconds``)
    taken from the clocks when ``/proc/stat`` cannot be read: without one the library reports
    no process metric at all."""

    def _boot_time(self) -> float:
        try:
            return float(super()._boot_time())
        except OSError:
            return time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)


def app_for(daemon: Daemon) -> WsgiApp:
    """The ``/metrics`` page for ``daemon``: pingd's metrics, the process's and Python's, in a
    registry of its own (the library's global one would outlive the daemon)."""
    registry = CollectorRegistry(auto_describe=False)
    _Process(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    registry.register(PingdCollector(daemon))
    return make_wsgi_app(registry)
