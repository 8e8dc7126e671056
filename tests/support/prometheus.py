"""Debian's Prometheus, run by a test: on loopback, on a free port, its data in a directory of
the test's, scraping the targets it is given every ``interval`` seconds and evaluating the rule
files it is given as often; always stopped by its PID, even after a failure.

The test reads what Prometheus made of the scrapes through its HTTP API (``query``,
``alerts``), as an operator's dashboards and alertmanager would.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.processes import free_port, terminate, wait_for

#: Seconds between scrapes and between rule evaluations.
INTERVAL = 1.0


def available() -> str | None:
    """Why Prometheus cannot run here, or None."""
    if shutil.which("prometheus") is None:
        return "Debian's prometheus is not installed (apt-get install prometheus)"
    return None


#: Fetches a URL and prints the body: how the test reads a Prometheus that runs on a test host.
_FETCH = "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())"


@dataclass
class Prometheus:
    url: str
    proc: subprocess.Popen
    log: Path
    prefix: Sequence[str] = ()  # the test host it runs on (its loopback is that host's), if any

    def get(self, path: str) -> str:
        """GET ``path`` from Prometheus' web server (on its own host's loopback)."""
        if not self.prefix:
            with urllib.request.urlopen(f"{self.url}{path}", timeout=10) as response:
                return response.read().decode()
        run = subprocess.run(
            [*self.prefix, sys.executable, "-c", _FETCH, f"{self.url}{path}"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if run.returncode != 0:
            raise OSError(run.stderr.strip().splitlines()[-1] if run.stderr.strip() else "fetch failed")
        return run.stdout

    def api(self, path: str, **params: str) -> Any:
        body = json.loads(self.get(f"/api/v1/{path}?{urllib.parse.urlencode(params)}"))
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[tuple[dict[str, str], float, float]]:
        """An instant query now: each series' labels, its sample's value and the time it is for."""
        return [
            (r["metric"], float(r["value"][1]), float(r["value"][0])) for r in self.api("query", query=expr)["result"]
        ]

    def value(self, expr: str) -> float | None:
        """The one value ``expr`` has now, or None when it has none."""
        found = self.query(expr)
        assert len(found) <= 1, found
        return found[0][1] if found else None

    def alerts(self, name: str) -> list[dict[str, Any]]:
        """The alerts named ``name`` that are pending or firing now."""
        return [a for a in self.api("alerts")["alerts"] if a["labels"]["alertname"] == name]

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _config(targets: Mapping[str, Sequence[str]], rule_files: Sequence[Path], jobs: Sequence[dict]) -> str:
    """prometheus.yml: every job scraped every INTERVAL, the rules evaluated as often; ``jobs``
    are scrape configurations given whole (service discovery, relabelling)."""
    config = {
        "global": {"scrape_interval": f"{INTERVAL:g}s", "scrape_timeout": f"{INTERVAL:g}s",
                   "evaluation_interval": f"{INTERVAL:g}s"},
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": list(addresses)}]} for job, addresses in targets.items()
        ] + list(jobs),
    }  # fmt: skip
    return json.dumps(config, indent=2)  # JSON is YAML


@contextlib.contextmanager
def running(
    directory: Path,
    targets: Mapping[str, Sequence[str]],
    rule_files: Sequence[Path] = (),
    timeout: float = 30.0,
    *,
    jobs: Sequence[dict] = (),
    prefix: Sequence[str] = (),
) -> Iterator[Prometheus]:
    """Prometheus scraping ``targets`` (job → host:port) and ``jobs``, on the test host
    ``prefix`` runs commands on (else this one), ready to be asked; stopped at the end."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "prometheus.yml"
    config.write_text(_config(targets, rule_files, jobs))
    log = directory / "prometheus.log"
    port = free_port()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*prefix, "prometheus", f"--config.file={config}", f"--storage.tsdb.path={directory / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=directory,
        )  # fmt: skip
    prometheus = Prometheus(f"http://127.0.0.1:{port}", proc, log, prefix)
    try:
        wait_for(lambda: _ready(prometheus), timeout, "Prometheus to be ready")
        yield prometheus
    finally:
        terminate(proc)


def _ready(prometheus: Prometheus) -> bool:
    if prometheus.proc.poll() is not None:
        raise AssertionError(f"prometheus exited {prometheus.proc.returncode}:\n{prometheus.output}")
    try:
        return "Ready" in prometheus.get("/-/ready")
    except OSError:
        return False


def wait_for_value(prometheus: Prometheus, expr: str, wanted: float, timeout: float) -> float:
    """Wait until ``expr`` has the value ``wanted``; returns how long that took."""
    started = time.monotonic()
    wait_for(lambda: prometheus.value(expr) == wanted, timeout, f"{expr} == {wanted} (now {prometheus.value(expr)})")
    return time.monotonic() - started
