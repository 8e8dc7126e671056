"""The mesh's per-peer Prometheus series (pingd.mesh.metrics): read from the table at scrape
time, labelled with each peer's name and node id, counts matching the table."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric

from pingd.mesh.metrics import mesh_metrics
from pingd.mesh.table import Peer, PeerTable
from pingd.shared.buckets import RTT_BUCKETS


def _mesh_with(table: PeerTable) -> Any:
    """What mesh_metrics reads of a Mesh: its table."""
    return SimpleNamespace(table=table)


def _table() -> PeerTable:
    table = PeerTable()
    table.know([Peer("alpha", "id1", "127.0.0.1", 7464), Peer("beta", None, "::1", 7000)])
    alpha, beta = table.records["id1"], table.records["beta@::1:7000"]
    for when, rtt in enumerate((0.001, 0.002, 0.0015)):
        alpha.answered(float(when), rtt)
    alpha.answered(3.0, 0.5)  # late: lost, but its round trip is in the histogram
    alpha.failed(4.0, "no reply within 1 s")
    beta.failed(1.0, "no connection (refused, unreachable, or its CURVE handshake failed)")
    return table


def _families(mesh: Any) -> dict[str, Metric]:
    return {family.name: family for family in mesh_metrics(mesh)}


def _by_peer(family: Metric, suffix: str = "") -> dict[tuple[str, str], float]:
    return {
        (s.labels["peer"], s.labels["node_id"]): s.value
        for s in family.samples
        if s.name == family.name + suffix and "le" not in s.labels
    }


def test_each_peer_has_its_probes_and_losses_as_the_table_counts_them() -> None:
    families = _families(_mesh_with(_table()))
    assert set(families) == {
        "pingd_mesh_probes",
        "pingd_mesh_probes_lost",
        "pingd_mesh_rtt_seconds",
        "pingd_mesh_last_error_info",
        "pingd_mesh_peers",
    }
    assert _by_peer(families["pingd_mesh_probes"], "_total") == {("alpha", "id1"): 5, ("beta", ""): 1}
    assert _by_peer(families["pingd_mesh_probes_lost"], "_total") == {("alpha", "id1"): 2, ("beta", ""): 1}
    assert [s.value for s in families["pingd_mesh_peers"].samples] == [2]


def test_each_peers_histogram_holds_every_reply_in_the_shared_buckets() -> None:
    rtt = _families(_mesh_with(_table()))["pingd_mesh_rtt_seconds"]
    assert _by_peer(rtt, "_count") == {("alpha", "id1"): 4, ("beta", ""): 0}  # no reply from beta
    sums = _by_peer(rtt, "_sum")
    assert math.isclose(sums[("alpha", "id1")], 0.001 + 0.002 + 0.0015 + 0.5) and sums[("beta", "")] == 0
    alpha = [s for s in rtt.samples if s.name.endswith("_bucket") and s.labels["peer"] == "alpha"]
    assert len(alpha) == len(RTT_BUCKETS) + 1 and alpha[-1].labels["le"] == "+Inf" and alpha[-1].value == 4
    values = [s.value for s in alpha]
    assert values == sorted(values)  # cumulative


def test_a_forgotten_peer_takes_its_series_with_it() -> None:
    table = _table()
    table.know([Peer("alpha", "id1", "127.0.0.1", 7464)])
    families = _families(_mesh_with(table))
    assert set(_by_peer(families["pingd_mesh_probes"], "_total")) == {("alpha", "id1")}
    assert [s.value for s in families["pingd_mesh_peers"].samples] == [1]


def test_no_peers_is_no_series_and_a_zero_gauge() -> None:
    families = _families(_mesh_with(PeerTable()))
    assert families["pingd_mesh_probes"].samples == [] and families["pingd_mesh_rtt_seconds"].samples == []
    assert [s.value for s in families["pingd_mesh_peers"].samples] == [0]


class _Collector:
    def __init__(self, table: PeerTable) -> None:
        self.table = table

    def collect(self) -> Any:
        return mesh_metrics(_mesh_with(self.table))


def test_the_series_expose_as_prometheus_text_with_escaped_labels() -> None:
    table = PeerTable()
    table.know([Peer('say "hi"\\', "id9", "127.0.0.1", 1)])
    table.records["id9"].answered(1.0, 0.001)
    registry = CollectorRegistry()
    registry.register(_Collector(table))
    text = generate_latest(registry).decode()
    assert 'pingd_mesh_probes_total{node_id="id9",peer="say \\"hi\\"\\\\"} 1.0' in text
    assert "pingd_mesh_peers 1.0" in text


def test_each_peer_with_a_loss_has_one_series_naming_the_last_losss_kind() -> None:
    family = _families(_mesh_with(_table()))["pingd_mesh_last_error_info"]
    kinds = {(s.labels["peer"], s.labels["kind"]): s.value for s in family.samples}
    assert kinds == {("alpha", "timeout"): 1, ("beta", "no_connection"): 1}


def test_the_mesh_series_pass_promtool_check_metrics() -> None:
    import shutil
    import subprocess

    from tests.conftest import require

    require(None if shutil.which("promtool") else "promtool is not installed (Debian: apt-get install prometheus)")

    class Collector:
        def collect(self) -> Any:
            return mesh_metrics(_mesh_with(_table()))

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector())  # type: ignore[arg-type]
    text = generate_latest(registry)
    checked = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, timeout=30)
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, b"", b"")
