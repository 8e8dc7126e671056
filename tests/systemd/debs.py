"""The Debian package for the systemd box: built with packaging/build-deb (Debian's own
tooling), installed in the box with apt-get from the .deb alone, as a user does. The box has
no network; the host image already has what the package depends on."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import wait_for

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Built:
    path: Path
    seconds: float  # what building it took


@dataclass(frozen=True)
class Packages:
    current: Path  # version N
    upgrade: Path  # the same package relabelled N+1
    build_seconds: float  # what building one took


def build(out: Path, version: str | None = None) -> Path:
    """Build the package (at ``version``, default pingd's own) into ``out``; its path."""
    command = [str(ROOT / "packaging" / "build-deb"), "--out", str(out)]
    before = set(out.glob("pingd_*.deb"))
    run = subprocess.run([*command, *(["--version", version] if version else [])], capture_output=True, text=True,
                         timeout=900)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    print(run.stdout.strip())
    made = set(out.glob("pingd_*.deb")) - before
    assert len(made) == 1, made
    return made.pop()


def relabelled(deb: Path, version: str) -> Path:
    """The same package under another version (its control file's), beside it: what an upgrade
    installs. dpkg-deb takes it apart and puts it back in a second or two, where building the
    same tree again took half a minute of the suite's time."""
    name, _, arch = deb.name.split("_")
    out = deb.parent / f"{name}_{version}_{arch}"
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["dpkg-deb", "-R", str(deb), str(tree)], check=True, capture_output=True, timeout=120)
        control = tree / "DEBIAN" / "control"
        control.write_text(re.sub(r"(?m)^Version: .*$", f"Version: {version}", control.read_text()))
        subprocess.run(["dpkg-deb", "-b", str(tree), str(out)], check=True, capture_output=True, timeout=120)
    return out


def version_of(deb: Path) -> str:
    return deb.name.split("_")[1]


def copy_in(box, deb: Path) -> str:
    """The .deb inside the box, at a path apt takes as a file (./ or absolute)."""
    target = box.root / "var" / "tmp" / "debs"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(deb, target / deb.name)
    return f"/var/tmp/debs/{deb.name}"


def apt(box, *args: str) -> subprocess.CompletedProcess:
    return box.run("env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-y", "-q", "-o", "Dpkg::Use-Pty=0",
                   "--no-install-recommends", *args, timeout=300)  # fmt: skip


def install(box, deb: Path) -> float:
    """Install the package as a user does; the seconds from apt-get to pingd active."""
    # Container images ship a policy-rc.d that forbids starting services (exit 101); the
    # box's root is this host's image, and the box is meant as a machine that runs them.
    (box.root / "usr/sbin/policy-rc.d").unlink(missing_ok=True)
    path = copy_in(box, deb)
    started = time.monotonic()
    apt(box, "install", path)
    wait_for(lambda: active(box), 30, "pingd to be active after install")
    return time.monotonic() - started


def active(box) -> bool:
    return box.run("systemctl", "is-active", "pingd", check=False).stdout.strip() == "active"


def show(box, unit: str, *props: str) -> dict[str, str]:
    """``systemctl show``'s properties of ``unit``."""
    out = box.run("systemctl", "show", unit, *(f"-p{p}" for p in props)).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def main_pid(box) -> int:
    return int(show(box, "pingd", "MainPID").get("MainPID") or 0)
