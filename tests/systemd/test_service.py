"""`systemctl start pingd` under a real systemd (PID 1 of its own namespaces), installed by
the project's own install step, plus the unit files' static checks."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require
from tests.support import isolation
from tests.support.processes import wait_for

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "packaging" / "systemd"


def _analyze_available() -> None:
    require(None if shutil.which("systemd-analyze") else "needs systemd-analyze (Debian package systemd)")


def test_units_verify_cleanly(tmp_path):
    _analyze_available()
    # Verify the units as shipped, with ExecStart pointing at this environment's pingd
    # (systemd-analyze checks that the command exists and is executable).
    entry = Path(sys.prefix) / "bin" / "pingd"
    service = (UNITS / "pingd.service").read_text()
    assert "ExecStart=/usr/local/bin/pingd\n" in service
    (tmp_path / "pingd.service").write_text(service.replace("/usr/local/bin/pingd", str(entry)))
    shutil.copy(UNITS / "pingd.socket", tmp_path / "pingd.socket")
    proc = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(tmp_path / "pingd.service"), str(tmp_path / "pingd.socket")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == "" and proc.stdout.strip() == ""


def test_a_reload_checks_the_settings_before_pingd_is_signalled():
    """As nginx's unit: a bad file fails `systemctl reload` instead of only being logged by pingd
    (the package walks it: systemd/test_package.py::test_the_operators_document_walks_as_written)."""
    service = (UNITS / "pingd.service").read_text()
    reloads = [line for line in service.splitlines() if line.startswith("ExecReload=")]
    assert reloads == ["ExecReload=/usr/local/bin/pingd --check-config --quiet", "ExecReload=/bin/kill -HUP $MAINPID"]
    assert "\nDocumentation=man:pingd(8) man:systemd.exec(5)\n" in service


def test_service_security_exposure_is_ok():
    _analyze_available()
    proc = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--threshold=20", "--no-pager", str(UNITS / "pingd.service")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    score = float(re.search(r"Overall exposure level for pingd\.service: (\d+\.\d+)", proc.stdout).group(1))
    assert score <= 2.0, proc.stdout


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory):
    """pingd and its dependencies as wheels for Debian's /usr/bin/python3 (the service's
    Python), so the install inside the box (which has no network) works offline."""
    python = Path("/usr/bin/python3")
    if not python.exists():
        pytest.fail("the service test needs /usr/bin/python3 (Debian's python3 and python3-venv)")
    base = tmp_path_factory.mktemp("wheels")
    builder = base / "venv"
    subprocess.run([str(python), "-m", "venv", str(builder)], check=True, timeout=300)
    wheels = base / "wheels"
    with isolation.machine_network():  # pip fetches the dependencies
        subprocess.run(
            [str(builder / "bin" / "pip"), "wheel", "--quiet", "--wheel-dir", str(wheels), str(ROOT)],
            check=True,
            timeout=600,
        )
    return wheels


@pytest.fixture
def box():
    from tests.systemd.box import SystemdBox, available

    require(available())
    with SystemdBox() as b:
        yield b


def _install(box, wheelhouse) -> None:
    target = box.root / "var" / "tmp" / "pingd-install"
    shutil.copytree(ROOT / "packaging", target / "packaging")
    shutil.copytree(wheelhouse, target / "wheels")
    out = box.run("bash", "/var/tmp/pingd-install/packaging/install", "--wheels", "/var/tmp/pingd-install/wheels")
    assert "install: pingd" in out.stdout


def _show(box, unit: str, *props: str) -> dict[str, str]:
    out = box.run("systemctl", "show", unit, *(f"-p{p}" for p in props)).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def _pingctl(box, *args: str) -> dict:
    out = box.run("/usr/local/bin/pingctl", *args, "--json", check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.root
def test_systemctl_start_pingd_serves_persists_and_stops_cleanly(box, wheelhouse):
    _install(box, wheelhouse)
    box.run("systemctl", "start", "pingd")  # Type=notify: returns once pingd said READY=1
    status = box.run("systemctl", "status", "--no-pager", "pingd", check=False).stdout
    assert "active (running)" in status, status + box.journal("pingd")
    assert re.search(r'Status: "serving tcp://\[::\]:7464, count 0', status), status
    # The install made the static user the unit runs as (the system bus refuses a dynamic one).
    # A dynamic user of that name would not be in /etc/passwd.
    static = box.run("grep", "^pingd:", "/etc/passwd").stdout.split(":")[2]
    # The monitor's unit comes with it, installed but neither enabled nor started.
    monitor = _show(box, "pingctl-monitor", "LoadState", "UnitFileState", "ActiveState")
    assert monitor == {"LoadState": "loaded", "UnitFileState": "disabled", "ActiveState": "inactive"}, monitor
    main_pid = _show(box, "pingd", "MainPID")["MainPID"]
    assert box.run("stat", "-c", "%u", f"/proc/{main_pid}").stdout.strip() == static

    report = _pingctl(box, "ping", "--server-ip", "127.0.0.1", "--count", "10", "--interval", "0")
    assert (report["sent"], report["received"]) == (10, 10)
    assert report["last_count"] == 10
    # STATUS= follows the count (updated at most once a second).
    wait_for(lambda: "count 10," in _show(box, "pingd", "StatusText")["StatusText"], 10, "STATUS= with count 10")

    box.run("systemctl", "stop", "pingd")
    shown = _show(box, "pingd", "Result", "ExecMainStatus", "ActiveState")
    assert shown == {"Result": "success", "ExecMainStatus": "0", "ActiveState": "inactive"}, shown
    state = json.loads(box.run("cat", "/var/lib/pingd/state.json").stdout)
    assert state["count"] == 10

    journal = box.journal("pingd")
    assert "listening on tcp://127.0.0.1:7464" in journal  # ifaddr's ctypes ran under MemoryDenyWriteExecute
    assert "stopped, count 10" in journal
    warnings = box.run("journalctl", "-u", "pingd", "-p", "warning", "--no-pager", "-o", "cat", check=False).stdout
    assert "listening on" not in warnings  # priorities reach journald: info is not a warning

    box.run("systemctl", "start", "pingd")
    assert _pingctl(box, "status", "--server-ip", "127.0.0.1")["count"] == 10
    assert _pingctl(box, "ping", "--server-ip", "::1", "--count", "1")["last_count"] == 11
    box.run("systemctl", "stop", "pingd")


@pytest.mark.root
def test_watchdog_restarts_a_hung_pingd(box, wheelhouse):
    _install(box, wheelhouse)
    dropin = box.root / "etc/systemd/system/pingd.service.d"
    dropin.mkdir(parents=True)
    (dropin / "watchdog.conf").write_text("[Service]\nWatchdogSec=2s\n")
    box.run("systemctl", "daemon-reload")
    box.run("systemctl", "start", "pingd")
    first = _show(box, "pingd", "MainPID")["MainPID"]
    assert _pingctl(box, "status", "--server-ip", "127.0.0.1")["count"] == 0
    box.run("kill", "-STOP", first)  # a hung loop stops the watchdog pings
    wait_for(
        lambda: (
            _show(box, "pingd", "NRestarts")["NRestarts"] != "0"
            and _show(box, "pingd", "ActiveState")["ActiveState"] == "active"
        ),
        20,
        "systemd to restart the hung pingd",
    )
    assert _show(box, "pingd", "MainPID")["MainPID"] != first
    assert "Watchdog timeout" in box.run("journalctl", "--no-pager", "-o", "cat", check=False).stdout
    box.run("systemctl", "stop", "pingd")


@pytest.mark.root
def test_socket_activation_under_systemd(box, wheelhouse):
    _install(box, wheelhouse)
    box.run("systemctl", "start", "pingd.socket")
    assert _show(box, "pingd", "ActiveState")["ActiveState"] == "inactive"
    report = _pingctl(box, "ping", "--server-ip", "127.0.0.1", "--count", "3", "--interval", "0", "--timeout", "5")
    assert report["received"] == 3
    assert _show(box, "pingd", "ActiveState")["ActiveState"] == "active"
    assert "(socket passed by systemd)" in box.journal("pingd")
    box.run("systemctl", "stop", "pingd.socket", "pingd")


@pytest.mark.root
def test_dns_registration_under_the_hardened_unit(box, wheelhouse):
    """The README's set-up, as an operator makes it: settings in pingd.toml, the root-only key
    handed over as a credential. Under every hardening option, pingd registers in a real BIND
    (on the box's loopback), says so in STATUS=, and removes the records on `systemctl stop`."""
    require(None if shutil.which("named") and shutil.which("tsig-keygen") else "needs bind9 and bind9-utils")
    _install(box, wheelhouse)
    key = subprocess.run(["tsig-keygen", "pingd-key"], check=True, capture_output=True, text=True).stdout
    etc = box.root / "etc/pingd"
    etc.mkdir(exist_ok=True)
    (etc / "dns.key").write_text(key)
    (etc / "dns.key").chmod(0o600)
    (etc / "pingd.toml").write_text('dns_domain = "example.test"\ndns_server = "127.0.0.1:5300"\n')
    dropin = box.root / "etc/systemd/system/pingd.service.d"
    dropin.mkdir(parents=True)
    (dropin / "dns.conf").write_text(
        "[Service]\nLoadCredential=dns.key:/etc/pingd/dns.key\nEnvironment=PINGD_DNS_KEY=%d/dns.key\n"
    )
    named = box.root / "var/tmp/named"
    named.mkdir(parents=True)
    (named / "db").write_text("$TTL 60\n@ SOA ns admin 1 60 60 600 60\n@ NS ns\nns A 127.0.0.1\n")
    (named / "named.conf").write_text(
        'include "/etc/pingd/dns.key";\n'
        'options { directory "/var/tmp/named"; listen-on port 5300 { 127.0.0.1; }; listen-on-v6 { none; };\n'
        '  recursion no; pid-file "/var/tmp/named/pid"; };\n'
        'zone "example.test" { type primary; file "/var/tmp/named/db";\n'
        "  update-policy { grant pingd-key subdomain example.test. PTR SRV TXT A AAAA; }; };\n"
    )
    box.run("named", "-c", "/var/tmp/named/named.conf")  # forks; the box's end stops it
    box.run("systemctl", "daemon-reload")
    started = box.run("systemctl", "start", "pingd", check=False)
    assert started.returncode == 0, box.journal("pingd")
    wait_for(lambda: "DNS: registered" in box.journal("pingd"), 20, "pingd to register in DNS")
    registered = re.compile(r"DNS: registered as '[^']+' in example\.test")
    wait_for(lambda: registered.search(_show(box, "pingd", "StatusText")["StatusText"]), 10, "STATUS= to say so")
    announced = _pingctl(box, "status", "--server-ip", "127.0.0.1")["announced"]
    assert "DNS: registered as" in announced

    python = "/opt/pingd/venv/bin/python"
    ask = (
        "import dns.message as m, dns.query as q\n"
        "r = q.udp(m.make_query('_pingd._tcp.example.test', 'PTR'), '127.0.0.1', port=5300, timeout=2)\n"
        "print(r.answer)"
    )
    assert "_pingd._tcp.example.test" in box.run(python, "-c", ask).stdout
    box.run("systemctl", "stop", "pingd")
    assert "DNS: removed" in box.journal("pingd")
    assert box.run(python, "-c", ask).stdout.strip() == "[]"
