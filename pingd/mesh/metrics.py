"""The mesh in pingd's Prometheus metrics: per peer, its probes, the lost ones and a round-trip
histogram in the buckets ``pingctl monitor`` uses (``pingd.shared.buckets``), labelled with the
peer's name and node id; read at scrape time from the table, under its lock.

A peer that is forgotten (gone for good) takes its series with it: a fleet's churn does not
grow the scrape. The loss and latency rules of the shipped set (packaging/prometheus/) read these.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

if TYPE_CHECKING:
    from pingd.mesh.prober import Mesh

LABELS = ["peer", "node_id"]
#: The last error's kind, by how its text begins (pingd.mesh.prober and table write them): a
#: label of a handful of values, never the text itself, so a peer has one series at most.
KINDS = (("no reply within", "timeout"), ("reply after", "late"), ("no connection", "no_connection"),
         ("its reply is no pingd's", "not_pingd"))  # fmt: skip


def mesh_metrics(mesh: Mesh) -> Iterator[Metric]:
    """``pingd_mesh_*`` for every peer the mesh knows now."""
    probes = CounterMetricFamily("pingd_mesh_probes", "Mesh probes sent to each peer since found.", labels=LABELS)
    lost = CounterMetricFamily(
        "pingd_mesh_probes_lost",
        "Mesh probes lost: no reply in time, or a reply over 100 ms behind the path's fastest (a re-sent segment).",
        labels=LABELS,
    )
    rtt = HistogramMetricFamily(
        "pingd_mesh_rtt_seconds", "Round trips of the mesh probes answered, late ones included.", labels=LABELS
    )
    errors = GaugeMetricFamily(
        "pingd_mesh_last_error_info",
        "1 for each peer with a probe lost, labelled with the last loss's kind (timeout, late, no_connection, "
        "not_pingd).",
        labels=[*LABELS, "kind"],
    )
    with mesh.table.lock:
        rows = [(r.peer, r.probes, r.lost, r.histogram.snapshot(), r.last_error) for r in mesh.table.records.values()]
    for peer, sent, missed, snapshot, error in rows:
        labels = [peer.name, peer.node_id or ""]
        probes.add_metric(labels, sent)
        lost.add_metric(labels, missed)
        buckets = [(floatToGoString(bound), count) for bound, count in snapshot.buckets]
        rtt.add_metric(labels, buckets, snapshot.total)
        if error is not None:
            errors.add_metric([*labels, next((kind for start, kind in KINDS if error.startswith(start)), "other")], 1)
    yield probes
    yield lost
    yield rtt
    yield errors
    yield GaugeMetricFamily("pingd_mesh_peers", "Peers the mesh knows now.", len(rows))
