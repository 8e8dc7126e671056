"""pingctl-monitor.service: the unit file's static checks (systemd-analyze verify and security),
and the unit as the Debian package installs it, under a real systemd (a box): shipped but
neither enabled nor started, then started the way the unit's own comment says (a drop-in with
another ExecStart), scraped inside the box, and stopped with exit 0."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require
from tests.support.processes import wait_for
from tests.systemd import debs

UNIT = Path(__file__).resolve().parents[2] / "packaging" / "systemd" / "pingctl-monitor.service"


def _analyze_available() -> None:
    require(None if shutil.which("systemd-analyze") else "needs systemd-analyze (Debian package systemd)")


def test_the_unit_verifies_cleanly(tmp_path):
    _analyze_available()
    text = UNIT.read_text()
    assert "\nExecStart=/usr/local/bin/pingctl monitor --listen 127.0.0.1:7466\n" in text
    entry = Path(sys.prefix) / "bin" / "pingctl"  # systemd-analyze checks the command is executable
    (tmp_path / UNIT.name).write_text(text.replace("/usr/local/bin/pingctl", str(entry)))
    run = subprocess.run(["systemd-analyze", "verify", "--man=no", str(tmp_path / UNIT.name)],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert (run.returncode, run.stdout.strip(), run.stderr.strip()) == (0, "", "")


def test_the_units_exposure_is_ok():
    _analyze_available()
    run = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--threshold=20", "--no-pager", str(UNIT)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    score = float(re.search(r"Overall exposure level for pingctl-monitor\.service: (\d+\.\d+)", run.stdout).group(1))
    assert score <= 2.0, run.stdout


DROP_IN = """[Service]
ExecStart=
ExecStart=/usr/bin/pingctl monitor --listen 127.0.0.1:7466 --server-ip 127.0.0.1 --interval 0.2
"""
SCRAPE = "import urllib.request as u, sys; sys.stdout.write(u.urlopen('http://127.0.0.1:7466/metrics').read().decode())"


@pytest.mark.root
def test_the_packaged_unit_probes_the_local_pingd_and_stops_cleanly(box, current_deb):
    debs.install(box, current_deb.path)
    assert "/lib/systemd/system/pingctl-monitor.service" in box.run("dpkg", "-L", "pingd").stdout.split()
    assert box.run("systemctl", "is-enabled", "pingctl-monitor", check=False).stdout.strip() == "disabled"
    assert box.run("systemctl", "is-active", "pingctl-monitor", check=False).stdout.strip() == "inactive"
    assert (
        "ExecStart=/usr/bin/pingctl monitor --listen 127.0.0.1:7466"
        in box.run("systemctl", "cat", "pingctl-monitor").stdout
    )

    drop_in = box.root / "etc/systemd/system/pingctl-monitor.service.d/override.conf"
    drop_in.parent.mkdir(parents=True, exist_ok=True)
    drop_in.write_text(DROP_IN)  # what `systemctl edit pingctl-monitor` writes
    box.run("systemctl", "daemon-reload")
    box.run("systemctl", "start", "pingctl-monitor")

    def answered() -> str | None:
        run = box.run("/usr/bin/python3", "-c", SCRAPE, check=False)
        text = run.stdout if run.returncode == 0 else ""
        found = re.search(r'^pingctl_monitor_received_total\{address="127\.0\.0\.1:7464",name="[^"]+",'
                          r'node_id="[0-9a-f]+"\} (\d+)', text, re.M)  # fmt: skip
        return text if found and float(found.group(1)) >= 3 else None

    text = wait_for(answered, 30, "three answers from the packaged pingd")
    assert re.search(r'^pingctl_monitor_up\{address="127\.0\.0\.1:7464",.*\} 1\.0$', text, re.M)
    assert re.search(r"^process_cpu_seconds_total \d", text, re.M)  # the process metrics, under the sandbox
    main = debs.show(box, "pingctl-monitor", "MainPID")["MainPID"]
    assert box.run("stat", "-c", "%U", f"/proc/{main}").stdout.strip() != "root"  # a user of its own

    box.run("systemctl", "stop", "pingctl-monitor")
    shown = debs.show(box, "pingctl-monitor", "Result", "ExecMainStatus", "ActiveState")
    assert shown == {"Result": "success", "ExecMainStatus": "0", "ActiveState": "inactive"}, shown
    journal = box.journal("pingctl-monitor")
    assert "pingctl monitor: metrics on http://127.0.0.1:7466/metrics; probing 127.0.0.1" in journal
    assert "Traceback" not in journal
