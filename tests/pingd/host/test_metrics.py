"""pingd's metrics as a scrape reads them (pingd.host.metrics): every figure is one the daemon
already keeps, read at scrape time."""

from __future__ import annotations

import http.client
import os
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import pytest
import zmq
from prometheus_client import ProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from pingctl.client import PingClient, Target
from pingd.daemon import Daemon
from pingd.host import metrics
from tests.conftest import require
from tests.pingd.conftest import no_space
from tests.support.processes import wait_for

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape_text(daemon: Daemon) -> str:
    assert daemon.metrics is not None
    url = urllib.parse.urlsplit(daemon.metrics.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
    try:
        conn.request("GET", url.path)
        response = conn.getresponse()
        assert response.status == 200
        return response.read().decode()
    finally:
        conn.close()


def scrape(daemon: Daemon) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(scrape_text(daemon))
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def _refused(host: str | None, port: int | None) -> bool:
    """Whether a connection is refused: nothing listens there. A reset is not yet (the
    listener closed with the connection still in its queue); the next try is refused."""
    try:
        connection = http.client.HTTPConnection(host or "", port, timeout=5)
        connection.connect()
        connection.close()
    except ConnectionRefusedError:
        return True
    except ConnectionResetError:
        return False
    return False


def _client(daemon: Daemon) -> PingClient:
    return PingClient(Target("127.0.0.1", daemon.listening.port), 5.0)


def _send_raw(daemon: Daemon, frame: bytes) -> bytes:
    with zmq.Context() as ctx, ctx.socket(zmq.DEALER) as sock:
        sock.linger, sock.rcvtimeo = 0, 5000
        sock.connect(f"tcp://127.0.0.1:{daemon.listening.port}")
        sock.send(frame)
        return sock.recv()


def test_a_scrape_reads_pings_requests_and_errors(running: Callable[..., Daemon]) -> None:
    daemon = running(metrics="127.0.0.1:0")
    with _client(daemon) as client:
        for _ in range(3):
            client.ping()
        client.status()
    _send_raw(daemon, b"not a pingd frame")
    samples = scrape(daemon)
    assert value(samples, "pingd_pings_served_total") == 3
    assert value(samples, "pingd_pings_counted_total") == 3
    assert value(samples, "pingd_requests_total", type="ping") == 3
    assert value(samples, "pingd_requests_total", type="status") >= 1  # and the first contact's
    assert value(samples, "pingd_requests_total", type="invalid") == 1
    assert value(samples, "pingd_errors_total", code="1", reason="malformed") == 1
    assert value(samples, "pingd_errors_total", code="4", reason="storage_failed") == 0
    assert value(samples, "pingd_storage_failing") == 0
    assert value(samples, "pingd_build_info", version=daemon.actor.identity.version, protocol="1") == 1
    node = daemon.actor.identity.node_id
    info = dict(next(labels for name, labels in samples if name == "pingd_info"))
    assert info == {"node_id": node, "name": daemon.actor.identity.name, "durability": "periodic", "security": "plain"}
    assert ("pingd_sync_batch_requests_count", frozenset()) not in samples  # --sync always only
    assert value(samples, "process_resident_memory_bytes") > 0 and value(samples, "process_open_fds") > 0
    assert 0 < time.time() - value(samples, "process_start_time_seconds") < 86400


def test_a_storage_failure_shows_as_failing_refused_pings_and_failures(
    running: Callable[..., Daemon], monkeypatch: pytest.MonkeyPatch
) -> None:
    daemon = running(metrics="127.0.0.1:0")
    failing = no_space(monkeypatch)
    with _client(daemon) as client:
        assert client.ping().count == 1
        failing.set()
        assert all(client.ping().count is None for _ in range(2))
        samples = scrape(daemon)
        assert value(samples, "pingd_storage_failing") == 1
        assert value(samples, "pingd_storage_failures_total") >= 1
        assert value(samples, "pingd_errors_total", code="4", reason="storage_failed") == 2
        assert value(samples, "pingd_pings_served_total") == 1
        assert value(samples, "pingd_requests_total", type="ping") == 3
        failing.clear()
        wait_for(lambda: client.ping().count == 2, 10, "counting again")
    assert value(scrape(daemon), "pingd_storage_failing") == 0


def test_with_sync_always_each_group_commit_and_fdatasync_is_measured(running: Callable[..., Daemon]) -> None:
    daemon = running(metrics="127.0.0.1:0", sync="always")
    with _client(daemon) as client:
        for _ in range(5):
            client.ping()
    samples = scrape(daemon)
    assert value(samples, "pingd_sync_batch_requests_count") == 5  # one ping at a time: batches of 1
    assert value(samples, "pingd_sync_batch_requests_bucket", le="1.0") == 5
    assert value(samples, "pingd_state_sync_duration_seconds_count") >= 5
    assert value(samples, "pingd_state_sync_duration_seconds_sum") > 0


def test_a_stop_with_metrics_on_stays_fast_and_closes_the_port(running: Callable[..., Daemon]) -> None:
    daemon = running(metrics="127.0.0.1:0")
    assert daemon.metrics is not None
    url = urllib.parse.urlsplit(daemon.metrics.url)
    scrape(daemon)
    started = time.monotonic()
    daemon.stop()
    wait_for(lambda: _refused(url.hostname, url.port), 10, "the metrics port closed")
    assert time.monotonic() - started < 5  # tests/pingd/host/test_exporter.py holds it to JOIN


def test_a_real_scrape_passes_promtool_check_metrics(running: Callable[..., Daemon]) -> None:
    require(None if shutil.which("promtool") else "promtool is not installed (Debian: apt-get install prometheus)")
    daemon = running(metrics="127.0.0.1:0", sync="always")
    with _client(daemon) as client:
        client.ping()
    text = scrape_text(daemon)
    checked = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")


def test_promtool_check_metrics_can_fail() -> None:
    require(None if shutil.which("promtool") else "promtool is not installed (Debian: apt-get install prometheus)")
    bad = "# HELP pingd_pings counted\n# TYPE pingd_pings counter\npingd_pings 1\n"
    checked = subprocess.run(["promtool", "check", "metrics"], input=bad, capture_output=True, text=True, timeout=30)
    assert checked.returncode != 0 and "_total" in checked.stdout + checked.stderr


class _Says:
    def __init__(self, text: str) -> None:
        self.text = text

    def start(self) -> None: ...
    def close(self) -> None: ...
    def describe(self) -> str:
        return self.text


@pytest.mark.parametrize(
    "texts, series",
    [
        (["mDNS: announced as 'lab' through avahi-daemon"], {"mdns": 1}),
        (["mDNS: announced as 'lab'", "DNS: registered as 'lab' in example.org"], {"mdns": 1, "dns": 1}),
        (["mDNS: registering 'lab'", "DNS: not registered in example.org (REFUSED)"], {"mdns": 0, "dns": 0}),
        (["mDNS: off (no interface)", "DNS: registering in example.org"], {"mdns": 0, "dns": 0}),
        ([], {}),
    ],
)
def test_announcement_state_is_read_from_each_announcers_description(texts: list[str], series: dict[str, int]) -> None:
    (family,) = metrics._announced([_Says(t) for t in texts])
    assert {s.labels["via"]: s.value for s in family.samples} == series


def test_process_metrics_without_proc_stat_as_under_the_hardened_unit(tmp_path: Path) -> None:
    """ProcSubset=pid hides /proc/stat, where the library reads the boot time; without it, the
    library would report no process metric at all."""
    (tmp_path / str(os.getpid())).symlink_to(f"/proc/{os.getpid()}")
    hidden = metrics._Process(proc=str(tmp_path), pid=os.getpid, registry=None)
    found = {family.name: family.samples[0].value for family in hidden.collect()}
    real = {family.name: family.samples[0].value for family in ProcessCollector(registry=None).collect()}
    assert found["process_start_time_seconds"] == pytest.approx(real["process_start_time_seconds"], abs=2)
    assert found["process_open_fds"] > 0 and found["process_max_fds"] == real["process_max_fds"]
