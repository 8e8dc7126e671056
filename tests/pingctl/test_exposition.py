"""The monitor's metrics as a scraper reads them: the bucket layout, each family's name, type
and labels, the counters' invariants, a daemon's series gone once forgotten, and the listen
address (given, in use, any free port)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import urllib.request

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pingctl import exposition
from pingctl.errors import PingctlError
from pingctl.exposition import Figures, Labels
from tests.conftest import require

A = Labels("alpha", "127.0.0.1:7001", "00aa")
B = Labels("beta", "[::1]:7002", "")


def test_a_median_read_from_the_buckets_is_within_ten_percent_of_the_truth():
    """What the layout is for: wherever a tight cluster of round trips falls, the median
    Prometheus reads from the buckets (linear within one) is within 10 % of the real one."""
    from bench.prober import bucketed, quantile

    for k in range(400):
        truth = 60e-6 * 1.01**k  # 60 µs to 3.2 ms
        samples = [truth * (1 + (i - 50) / 5000) for i in range(101)]  # ±1 % around it
        assert quantile(0.5, bucketed(samples)) / truth == pytest.approx(1, abs=0.1), truth


def scrape(figures: Figures) -> dict[str, dict[tuple, float]]:
    """Every sample, by name, then by its labels (sorted pairs)."""
    text = generate_latest(exposition.registry(figures)).decode()
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return samples


def key(labels: Labels, **more: str) -> tuple:
    return tuple(sorted({"name": labels.name, "address": labels.address, "node_id": labels.node_id, **more}.items()))


def fill(figures: Figures) -> None:
    a = figures.open(A)
    for rtt in (40e-6, 300e-6, 300e-6, 0.0009, 20.0):  # under the first bound, between, past the last
        a.sent += 1
        a.answered(rtt, 41)
    a.sent += 2
    a.failed(None)
    a.failed("storage_failed")
    b = figures.open(B)
    b.sent += 1
    b.failed(None)


def test_each_family_has_its_fixed_name_type_and_labels():
    figures = Figures()
    fill(figures)
    text = generate_latest(exposition.registry(figures)).decode()
    types = {f.name: f.type for f in text_string_to_metric_families(text) if f.name.startswith("pingctl_monitor_")}
    assert types == {
        "pingctl_monitor_daemons": "gauge",
        "pingctl_monitor_sent": "counter",
        "pingctl_monitor_received": "counter",
        "pingctl_monitor_lost": "counter",
        "pingctl_monitor_errors": "counter",
        "pingctl_monitor_up": "gauge",
        "pingctl_monitor_listed": "gauge",
        "pingctl_monitor_daemon_pings_counted": "gauge",
        "pingctl_monitor_rtt_seconds": "histogram",
    }
    samples = scrape(figures)
    assert samples["pingctl_monitor_sent_total"] == {key(A): 7, key(B): 1}
    assert samples["pingctl_monitor_received_total"] == {key(A): 5, key(B): 0}
    assert samples["pingctl_monitor_lost_total"] == {key(A): 2, key(B): 1}
    assert samples["pingctl_monitor_errors_total"] == {key(A, kind="storage_failed"): 1}
    assert samples["pingctl_monitor_up"] == {key(A): 0, key(B): 0}
    assert samples["pingctl_monitor_listed"] == {key(A): 1, key(B): 1}
    assert samples["pingctl_monitor_daemon_pings_counted"] == {key(A): 41}  # none known for B
    assert samples["pingctl_monitor_daemons"] == {(): 2}
    assert "process_cpu_seconds_total" in samples  # the library's own metrics of this process


def test_the_histogram_is_cumulative_and_counts_each_answer_once():
    figures = Figures()
    fill(figures)
    samples = scrape(figures)
    rows = samples["pingctl_monitor_rtt_seconds_bucket"].items()
    buckets = {dict(k)["le"]: v for k, v in rows if ("name", "alpha") in k}
    assert buckets["5e-05"] == 1  # 40 µs
    assert buckets["0.0002"] == 1 and buckets["0.0004"] == 3  # and the two of 300 µs
    assert buckets["0.0008"] == 3 and buckets["0.0016"] == 4  # 0.9 ms
    assert buckets["0.0002828"] == 1 and buckets["0.0003364"] == 3  # 300 µs: between those two
    assert buckets["11.02"] == 4 and buckets["+Inf"] == 5  # 20 s: past the last bound
    assert samples["pingctl_monitor_rtt_seconds_count"][key(A)] == samples["pingctl_monitor_received_total"][key(A)]
    assert samples["pingctl_monitor_rtt_seconds_sum"][key(A)] == pytest.approx(20.00154)


def test_a_forgotten_daemon_has_no_series_left():
    figures = Figures()
    fill(figures)
    figures.forget(A)
    samples = scrape(figures)
    assert not any(("name", "alpha") in k for name, rows in samples.items() for k in rows)
    assert samples["pingctl_monitor_sent_total"] == {key(B): 1}


def test_a_daemon_that_left_is_listed_0_until_it_returns():
    figures = Figures()
    fill(figures)
    figures.listing(A, False)
    figures.listing(Labels("nobody", "10.9.9.9:7464", ""), False)  # not probed: nothing made
    assert scrape(figures)["pingctl_monitor_listed"] == {key(A): 0, key(B): 1}
    figures.listing(A, True)
    assert scrape(figures)["pingctl_monitor_listed"] == {key(A): 1, key(B): 1}


def test_a_move_keeps_the_figures_under_the_new_labels():
    figures = Figures()
    fill(figures)
    named = Labels("beta", B.address, "00bb")
    figures.move(B, named)
    assert scrape(figures)["pingctl_monitor_lost_total"] == {key(A): 2, key(named): 1}


def test_label_values_that_break_the_text_format_are_escaped():
    figures = Figures()
    odd = Labels('a "quoted"\\name\n', "127.0.0.1:1", "")
    figures.open(odd).sent = 1
    assert scrape(figures)["pingctl_monitor_sent_total"] == {key(odd): 1}


def test_promtool_finds_nothing_to_say_of_a_scrape():
    require(None if shutil.which("promtool") else "promtool is not installed (Debian's prometheus package)")
    figures = Figures()
    fill(figures)
    run = subprocess.run(
        ["promtool", "check", "metrics"], input=generate_latest(exposition.registry(figures)), capture_output=True
    )
    assert (run.returncode, run.stdout, run.stderr) == (0, b"", b"")


@pytest.mark.parametrize(
    ("text", "default", "expected"),
    [
        ("127.0.0.1:7466", None, ("127.0.0.1", 7466)),
        ("[::1]:0", None, ("::1", 0)),
        ("box.example:80", None, ("box.example", 80)),
        ("box", 7464, ("box", 7464)),
        ("::1", 7464, ("::1", 7464)),
        ("[fe80::1%eth0]", 7464, ("fe80::1%eth0", 7464)),
    ],
)
def test_host_and_port(text, default, expected):
    assert exposition.split_host_port(text, default, "--listen") == expected


@pytest.mark.parametrize("text", ["127.0.0.1", ":7466", "127.0.0.1:http", "127.0.0.1:65536", "[::1", "[::1]x"])
def test_a_listen_address_that_is_none_is_refused_in_one_line(text):
    with pytest.raises(PingctlError, match=r"^--listen takes HOST:PORT"):
        exposition.split_host_port(text, None, "--listen")


def test_port_0_serves_on_a_free_port_and_a_port_in_use_is_refused():
    figures = Figures()
    fill(figures)
    server, url = exposition.serve("127.0.0.1:0", exposition.registry(figures))
    try:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        assert url == f"http://127.0.0.1:{port}/metrics" and port != 0
        with urllib.request.urlopen(url, timeout=10) as response:
            assert b"pingctl_monitor_sent_total" in response.read()
        with pytest.raises(PingctlError, match="^cannot serve metrics on 127.0.0.1:.*in use"):
            exposition.serve(f"127.0.0.1:{port}", exposition.registry(figures))
    finally:
        exposition.stop(server)
    with socket.create_server(("127.0.0.1", port)):  # the port is free again once stopped
        pass


@pytest.mark.parametrize("text", ["127.0.0.1:７４６６", "127.0.0.1:65536", "127.0.0.1:", ":7466", "[::1"])
def test_a_listen_address_that_is_not_host_and_ascii_port_is_refused(text):
    with pytest.raises(PingctlError):
        exposition.split_host_port(text, None, "--listen")
