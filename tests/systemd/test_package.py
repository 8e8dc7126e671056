"""The Debian package under a real systemd: apt installs it and pingd runs; an upgrade under
load loses nothing acknowledged; and the operator's document (docs/operating.md), walked as
written from install to purge: remove stops it, purge leaves nothing of it on disk.

The package is built once per test session (packaging/build-deb, Debian's own tooling), at
pingd's version N and, from the same tree, at N+1 for the upgrade. Each test boots a fresh
box and installs with apt-get from the .deb alone: the box has no network, and the host
image already has what the package depends on.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import IN_CI, require
from tests.support.processes import wait_for
from tests.systemd import debs, walk
from tests.systemd.box import children

ROOT = Path(__file__).resolve().parents[2]
LO = ("--mdns-interface", "127.0.0.1")
#: The box has only `lo`: pingd is told to announce there, through its conffile.
SETTINGS = 'mdns_interfaces = ["127.0.0.1"]\n'

pytestmark = pytest.mark.root


def _pingctl(box, *args: str) -> dict | list:
    out = box.run("/usr/bin/pingctl", *args, "--json", check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _configure_mdns_on_loopback(box) -> None:
    """Edit the conffile as an administrator would, and restart."""
    conf = box.root / "etc" / "pingd" / "pingd.toml"
    conf.write_text(conf.read_text() + "\n" + SETTINGS)
    box.run("systemctl", "restart", "pingd")


def test_install_enables_and_starts_pingd_with_everything_in_place(box, packages):
    seconds = debs.install(box, packages.current)
    print(f"install → active: {seconds:.2f} s; .deb {packages.current.stat().st_size / 1e6:.1f} MB, "
          f"built in {packages.build_seconds:.0f} s")  # fmt: skip
    assert box.run("systemctl", "is-enabled", "pingd").stdout.strip() == "enabled"
    assert box.run("systemctl", "is-enabled", "pingd.socket", check=False).stdout.strip() == "disabled"

    report = _pingctl(box, "ping", "--server-ip", "127.0.0.1", "--count", "5", "--interval", "0")
    assert (report["sent"], report["received"], report["last_count"]) == (5, 5, 5)
    _configure_mdns_on_loopback(box)
    report = _pingctl(box, "ping", "--count", "5", "--interval", "0", *LO)  # found by mDNS
    assert (report["received"], report["last_count"]) == (5, 10)
    status = _pingctl(box, "status", "--server-ip", "127.0.0.1")
    assert status["count"] == 10 and status["durability"] == "periodic"
    journal = box.journal("pingd")
    assert "listening on tcp://127.0.0.1:7464" in journal and "announced as" in journal

    files = box.run("dpkg", "-L", "pingd").stdout.split()
    for path in ("/lib/systemd/system/pingd.service", "/lib/systemd/system/pingd.socket",
                 "/etc/pingd/pingd.toml", "/usr/share/bash-completion/completions/pingctl",
                 "/usr/share/man/man1/pingctl.1.gz", "/usr/share/man/man8/pingd.8.gz",
                 "/usr/bin/pingd", "/usr/bin/pingctl", "/usr/lib/pingd/bin/python"):  # fmt: skip
        assert path in files, path
    assert "/usr/share/doc/pingd/operating.md.gz" in files
    recommends = subprocess.run(["dpkg-deb", "-f", str(packages.current), "Recommends"], capture_output=True, text=True)
    assert recommends.stdout.strip() == "bash-completion"  # what loads pingctl's completion
    conffiles = box.run("dpkg-query", "-W", "-f=${Conffiles}", "pingd").stdout
    assert "/etc/pingd/pingd.toml" in conffiles
    assert "ExecStart=/usr/bin/pingd" in box.run("systemctl", "cat", "pingd").stdout
    completion = box.run("bash", "-c", "source /usr/share/bash-completion/completions/pingctl && complete -p pingctl")
    assert "_pingctl_completion" in completion.stdout
    page = box.run("zcat", "/usr/share/man/man1/pingctl.1.gz").stdout
    assert "\\fB\\-\\-all\\fR" in page
    _metrics_under_the_hardened_unit(box)
    assert "/usr/share/pingd/prometheus/pingd.rules.yml" in files
    if shutil.which("promtool") or IN_CI:  # Debian's prometheus, which CI installs
        assert "SUCCESS" in box.run("promtool", "check", "rules", "/usr/share/pingd/prometheus/pingd.rules.yml").stdout


def _metrics_under_the_hardened_unit(box) -> None:
    """metrics on, through the conffile: served under the unit's sandbox (its address families,
    ProcSubset=pid hiding /proc/stat), the process metrics included."""
    conf = box.root / "etc" / "pingd" / "pingd.toml"
    conf.write_text(conf.read_text() + 'metrics = "127.0.0.1:7465"\n')
    box.run("systemctl", "restart", "pingd")
    url = "http://127.0.0.1:7465/metrics"
    get = f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=5).read().decode())"
    page = wait_for(lambda: box.run("python3", "-c", get, check=False).stdout, 30, "pingd's metrics")
    assert "pingd_pings_counted_total 10.0" in page and "pingd_storage_failing 0.0" in page
    assert re.search(r"^process_resident_memory_bytes \d", page, re.M) and "process_start_time_seconds" in page
    assert "metrics on http://127.0.0.1:7465/metrics" in box.journal("pingd")


def test_upgrade_under_load_loses_nothing_acknowledged(box, packages):
    debs.install(box, packages.current)
    _configure_mdns_on_loopback(box)  # a changed conffile, which the upgrade must keep
    before_pid = debs.main_pid(box)
    session = subprocess.Popen(
        ["nsenter", "-t", str(box.pid), "-a", "-r", "-w", "/usr/bin/pingctl", "ping", "--server-ip", "127.0.0.1",
         "--count", "0", "--interval", "0", "--json", "--samples"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for(lambda: _count(box) >= 200, 30, "the session to be under way")
        upgraded = debs.apt(box, "install", debs.copy_in(box, packages.upgrade))
        assert "pingd.toml" not in upgraded.stderr  # the changed conffile is kept without asking
        wait_for(lambda: debs.main_pid(box) not in (before_pid, 0), 30, "pingd to be restarted")
        at_restart = _count(box)
        wait_for(lambda: _count(box) >= at_restart + 200, 30, "the session to go on after the upgrade")
        # Ctrl-C to pingctl itself: nsenter forks it into the box's pid namespace, and does
        # not pass signals on.
        (nsenter_child,) = children(session.pid)
        os.kill(nsenter_child, signal.SIGINT)
        out, err = session.communicate(timeout=30)
    finally:
        if session.poll() is None:
            session.kill()
            session.wait(10)
    assert session.returncode == 0, err
    report = json.loads(out)
    counts = [s["count"] for s in report["samples"] if s["count"] is not None]
    lost = [s for s in report["samples"] if s["rtt_ms"] is None]
    highest = max(counts)
    final = _count(box)
    version = box.run("dpkg-query", "-W", "-f=${Version}", "pingd").stdout
    print(f"upgrade under load: {len(counts)} pongs, {len(lost)} lost, highest count {highest}, after {final}")
    assert version == packages.upgrade.name.split("_")[1]
    assert final >= highest  # nothing acknowledged was lost
    assert counts == sorted(counts)  # one count, never going back
    assert len(lost) <= 2, lost  # at most what was in flight across the restart
    assert SETTINGS in (box.root / "etc" / "pingd" / "pingd.toml").read_text()


def _count(box) -> int:
    out = box.run("/usr/bin/pingctl", "status", "--server-ip", "127.0.0.1", "--json", "--timeout", "2", check=False)
    return json.loads(out.stdout)["count"] if out.returncode == 0 else -1


def test_the_operators_document_walks_as_written(box, current_deb):
    """docs/operating.md's blocks, run as written on a machine like the document's (named
    `box`, with a LAN address), from install to purge: each command exits as the document says
    and prints the lines it shows. Between the blocks, what the document claims and does not
    show: the count kept by remove, the records' node id the service's own, nothing left after
    purge but what the document says is left."""
    blocks = walk.blocks()
    assert list(blocks) == WALKED, "walk every block the document marks, in its order"
    _like_the_documents_machine(box)
    (box.root / "var/tmp/debs/build/deb").mkdir(parents=True)
    shutil.copy(current_deb.path, box.root / "var/tmp/debs/build/deb" / current_deb.path.name)
    before = set(_files(box))
    started = time.monotonic()

    _walk(box, blocks, "install")
    assert box.run("systemctl", "is-enabled", "pingd").stdout.strip() == "enabled"
    _walk(box, blocks, "check-config")
    pid = debs.main_pid(box)
    _walk(box, blocks, "reload")
    assert debs.main_pid(box) == pid  # a refused reload never reached pingd
    _walk(box, blocks, "socket")
    _walk(box, blocks, "socket-off")
    assert box.run("systemctl", "is-enabled", "pingd.socket", check=False).stdout.strip() == "disabled"
    # The key as the DNS server made it, copied to pingd's host (scp, in the document).
    box.run("sh", "-c", "cd /var/tmp/debs && tsig-keygen -a hmac-sha256 pingd-key > dns.key")
    _walk(box, blocks, "dns-settings")
    _walk(box, blocks, "dns-key")
    service_state = box.root / "var/lib/private/pingd"
    state_files = sorted(p.name for p in service_state.iterdir())
    printed = _walk(box, blocks, "dns-records")[0].output
    node_id = json.loads((service_state / "state.json").read_text())["node_id"]
    records = [" ".join(line.split()) for line in printed]
    assert f"pingd-{node_id}.example.org. 60 IN A 192.0.2.10" in records  # the service's node, not a new one
    assert sorted(p.name for p in service_state.iterdir()) == state_files  # read, nothing made
    assert not (box.root / "root/.local/state/pingd").exists()

    _walk(box, blocks, "purge")  # remove, then purge, then the drop-in by hand
    print(f"the document's blocks: {time.monotonic() - started:.1f} s")
    for gone in ("/usr/bin/pingctl", "/usr/lib/pingd", "/lib/systemd/system/pingd.service"):
        assert not (box.root / gone.lstrip("/")).exists(), gone
    left = sorted(p for p in set(_files(box)) - before if "pingd" in p and not _dpkg_documents(p))
    assert left == [], left
    assert not list((box.root / "etc/systemd/system").rglob("pingd*"))  # no enablement left either


#: The walked blocks of docs/operating.md, in the document's order (walk.py says how they run).
WALKED = [
    "install",
    "check-config",
    "reload",
    "socket",
    "socket-off",
    "dns-settings",
    "dns-key",
    "dns-records",
    "purge",
]


def _like_the_documents_machine(box) -> None:
    """The machine the document's output came from: named `box`, with a LAN address
    (192.0.2.10, on a veth pair: the box has only `lo`), no policy-rc.d forbidding services,
    and, as it has no network, apt not fetching the recommended bash-completion."""
    (box.root / "usr/sbin/policy-rc.d").unlink(missing_ok=True)
    (box.root / "etc/apt/apt.conf.d/99offline").write_text('APT::Install-Recommends "false";\n')
    box.run("hostname", "box")
    box.run("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth1")
    box.run("ip", "addr", "add", "192.0.2.10/24", "dev", "eth0")
    for link in ("eth0", "eth1"):
        box.run("ip", "link", "set", link, "up")


def _walk(box, blocks: dict[str, list[walk.Step]], name: str) -> list[walk.Ran]:
    """Run one block of the document in the box, in the directory holding build/deb/; fail
    with each command that did not do what the document shows, and what it did instead."""
    steps = blocks[name]
    run = box.run("bash", "-c", walk.script(steps, "/var/tmp/debs"), check=False, timeout=300)
    ran = walk.results(steps, run.stdout)
    wrong = [
        f"$ {r.step.command}\n  {'; '.join(r.problems())}; it printed:\n" + textwrap.indent("\n".join(r.output), "    ")
        for r in ran
        if r.problems()
    ]
    assert not wrong, f"docs/operating.md, block {name!r}:\n" + "\n".join(wrong)
    return ran


def _files(box) -> list[str]:
    """Every path on the box's own disk (its overlay root), not /proc, /run, /tmp, /dev."""
    return box.run("find", "/", "-xdev").stdout.splitlines()


def _dpkg_documents(path: str) -> bool:
    """What dpkg and apt record of a package they purged: their logs and their own lists; and
    packaging/build-deb's scratch copies, which a build running on the host meanwhile (the
    box's root is an overlay of the host's) leaves in /var/tmp for the time it takes."""
    return path.startswith(
        ("/var/log/", "/var/lib/dpkg/", "/var/lib/apt/", "/var/cache/", "/var/tmp/debs", "/var/tmp/pingd-deb.")
    )


def test_lintian_finds_no_errors(current_deb):
    require(None if shutil.which("lintian") else "needs lintian (packaging/build-deb installs it)")
    run = subprocess.run(["lintian", "--no-tag-display-limit", str(current_deb.path)], capture_output=True,
                         text=True, timeout=600)  # fmt: skip
    errors = [line for line in run.stdout.splitlines() if line.startswith("E:")]
    assert errors == [], run.stdout
    warnings = sorted({m.group(1) for m in re.finditer(r"^W: pingd[^:]*: (\S+)", run.stdout, re.M)})
    documented = (ROOT / "docs" / "operating.md").read_text()
    assert all(f"`{tag}`" in documented for tag in warnings), (warnings, run.stdout)
