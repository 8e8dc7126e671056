"""pingd scraped by a real Prometheus (Debian's), read back through Prometheus' HTTP API as
an operator's dashboards and alertmanager read it: the target is up, pings served grow by
exactly what was pinged, a stopped daemon shows as down within two scrape intervals, and the
shipped storage alert fires while writes to the state file fail with ENOSPC."""

from __future__ import annotations

import contextlib
import re
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import require
from tests.support import prometheus
from tests.support.processes import Daemon, base_env, pingctl, wait_for
from tests.support.prometheus import INTERVAL, Prometheus, wait_for_value

RULES = Path(__file__).resolve().parents[2] / "packaging" / "prometheus" / "pingd.rules.yml"
METRICS = re.compile(r"metrics on http://(\S+)/metrics")

#: pingd with the state file's writes failing with ENOSPC while the file named by NO_SPACE_WHILE
#: exists: the fault the in-process tests inject (tests/pingd/conftest.py, ``no_space``), in a
#: real pingd process, since a full disk does not fail an overwrite in place of 20 bytes.
FAULTY = """
import errno, os, sys
flag, real = os.environ["NO_SPACE_WHILE"], os.pwrite
def pwrite(fd, data, offset):
    if os.path.exists(flag):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return real(fd, data, offset)
os.pwrite = pwrite
from pingd.cli import main
main(sys.argv[1:])
"""


@pytest.fixture
def scraped(tmp_path: Path) -> Iterator[Callable[[], tuple[Daemon, Prometheus, Path]]]:
    """A pingd with metrics on, and a Prometheus scraping it as job "pingd" every INTERVAL with
    the shipped rules (their `for:` shortened to two intervals); both stopped at the end."""
    require(prometheus.available())
    with contextlib.ExitStack() as stack:

        def start() -> tuple[Daemon, Prometheus, Path]:
            flag = tmp_path / "no-space"
            args = ["--bind", "127.0.0.1", "--port", "0", "--no-mdns", "--state-file", str(tmp_path / "state.json"),
                    "--metrics", "127.0.0.1:0"]  # fmt: skip
            command = [sys.executable, "-c", FAULTY, *args]
            daemon = Daemon(args=args, env=base_env(NO_SPACE_WHILE=str(flag)), command=command)
            stack.callback(daemon.kill)
            daemon.start()
            found = METRICS.search(daemon.wait_for_line(METRICS.pattern))
            assert found is not None
            rules = tmp_path / "pingd.rules.yml"
            rules.write_text(re.sub(r"for: \d+m", f"for: {2 * INTERVAL:g}s", RULES.read_text()))
            server = stack.enter_context(
                prometheus.running(tmp_path / "prometheus", {"pingd": [found.group(1)]}, [rules])
            )
            return daemon, server, flag

        yield start


def test_pingd_is_up_and_its_pings_served_grow_by_exactly_what_was_pinged(scraped) -> None:
    daemon, server, _ = scraped()
    wait_for_value(server, 'up{job="pingd"}', 1, 15)
    wait_for(lambda: server.value("pingd_pings_served_total") is not None, 10, "a first sample")
    before = server.value("pingd_pings_served_total")
    run = pingctl("ping", "--server-ip", "127.0.0.1", "--port", str(daemon.port), "-c", "25", "-i", "0", "--json")
    assert run.code == 0 and run.json()["received"] == 25, run.stderr
    wait_for_value(server, "pingd_pings_served_total", before + 25, 10 * INTERVAL)
    # Exactly: a few scrapes later it has not moved on.
    first = server.query("timestamp(pingd_pings_served_total)")[0][1]
    wait_for(lambda: server.query("timestamp(pingd_pings_served_total)")[0][1] >= first + 2 * INTERVAL, 10, "2 scrapes")
    assert server.value("pingd_pings_served_total") == before + 25
    assert server.value('pingd_requests_total{type="ping"}') == before + 25
    assert server.value("pingd_build_info") == 1 and server.value("pingd_storage_failing") == 0


def test_a_daemon_stopped_with_sigterm_shows_as_down_within_two_scrape_intervals(scraped) -> None:
    daemon, server, _ = scraped()
    wait_for_value(server, 'up{job="pingd"}', 1, 15)
    stopped_at = time.time()
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(10) == 0
    wait_for_value(server, 'up{job="pingd"}', 0, 10 * INTERVAL)
    down_at = server.query('timestamp(up{job="pingd"} == 0)')[0][1]  # the failed scrape's own time
    assert down_at - stopped_at <= 2 * INTERVAL, f"down {down_at - stopped_at:.2f} s after SIGTERM"
    assert server.query("pingd_pings_served_total") == []  # and its series ended with it


def test_the_storage_alert_fires_while_the_state_file_cannot_be_written(scraped) -> None:
    daemon, server, flag = scraped()
    wait_for_value(server, 'up{job="pingd"}', 1, 15)
    ping = ("ping", "--server-ip", "127.0.0.1", "--port", str(daemon.port), "-c", "3", "-i", "0", "--json")
    assert pingctl(*ping).code == 0
    assert server.alerts("PingdStorageFailing") == []
    flag.touch()
    refused = pingctl(*ping)
    assert refused.code == 1 and refused.json()["received"] == 0
    daemon.wait_for_line("No space left on device; refusing pings")
    wait_for(lambda: any(a["state"] == "firing" for a in server.alerts("PingdStorageFailing")), 20, "the alert to fire")
    (alert,) = server.alerts("PingdStorageFailing")
    assert alert["labels"]["job"] == "pingd" and alert["labels"]["severity"] == "critical"
    assert server.value("pingd_storage_failures_total") >= 1
    assert server.value('pingd_errors_total{code="4"}') == 3
    flag.unlink()
    wait_for(lambda: server.alerts("PingdStorageFailing") == [], 20, "the alert to end once writes work again")
    assert pingctl(*ping).code == 0


def test_a_fleet_registered_in_dns_is_scraped_through_dns_sd_configs(tmp_path):
    """The operator's document's scrape configuration, as written: Prometheus on another subnet
    reads pingd's SRV record from BIND (dns_sd_configs), puts the metrics port in place of the
    serving one, and scrapes the daemon by the host name pingd registered."""
    from tests.support import dnsworld
    from tests.support.dnsworld import DNS_ADDRESS, ZONE, DnsWorld

    require(prometheus.available() or dnsworld.available())
    job = {
        "job_name": "pingd",
        "dns_sd_configs": [{"names": [f"_pingd._tcp.{ZONE}"], "refresh_interval": "1s"}],
        "relabel_configs": [
            {"source_labels": ["__address__"], "regex": "(.+):\\d+", "replacement": "${1}:7465",
             "target_label": "__address__"},
        ],
    }  # fmt: skip
    with DnsWorld() as world:
        args = ["--bind", "*", "--port", "7464", "--metrics", "*:7465", "--name", "rack-a",
                "--state-file", str(tmp_path / "state.json"), "--no-mdns",
                "--dns-domain", ZONE, "--dns-server", DNS_ADDRESS, "--dns-key", str(world.key_file)]  # fmt: skip
        daemon = Daemon(args=args, env=base_env(), prefix=world.server.prefix).start()
        try:
            daemon.wait_for_line(r"DNS: registered 'rack-a' in example\.test", timeout=20)
            with prometheus.running(tmp_path / "prometheus", {}, jobs=[job], prefix=world.client.prefix) as prom:
                try:
                    wait_for_value(prom, 'up{job="pingd"}', 1.0, 30)
                except AssertionError:
                    raise AssertionError(f"{prom.api('targets')}\n{prom.output}") from None
                [(labels, _, _)] = prom.query('pingd_build_info{job="pingd"}')
                assert labels["instance"].startswith("pingd-") and labels["instance"].endswith(f".{ZONE}:7465")
            assert daemon.stop() == 0
        finally:
            daemon.kill()
