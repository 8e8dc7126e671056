"""pingctl's side of the contract: it imports ``pingd.shared`` (and the package root, for the
version) and nothing else of the daemon — nor the D-Bus library the daemon publishes
through Avahi with (jeepney).

That boundary keeps pingctl light (a control CLI is started thousands of times) and keeps the
wire contract in one place. The check walks every module of pingctl, so a new module is
covered the day it is written, and imports each in a fresh interpreter, so an import made
inside a function at import time counts too; a test below shows the check catching a leak.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pingctl

ALLOWED = ("pingd", "pingd.shared")


def pingctl_modules(root: Path) -> list[str]:
    """Every module of the pingctl package under ``root``, read from its files (not imported:
    the copy a test makes must be walked, not the installed package)."""
    found = []
    for path in sorted((root / "pingctl").rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__main__":  # importing it runs the command
            continue
        found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def daemon_side_loaded(modules: list[str], path: Path | None = None) -> dict[str, set[str]]:
    """The pingd modules outside ``pingd.shared`` (and the D-Bus library's) that importing each
    module loads first (one interpreter, in order: a leak is named after the module that
    brought it in)."""
    code = (
        "import importlib, json, sys\n"
        "out = {}\n"
        f"for name in {modules!r}:\n"
        "    before = set(sys.modules)\n"
        "    importlib.import_module(name)\n"
        "    out[name] = sorted(m for m in set(sys.modules) - before if m.split('.')[0] in ('pingd', 'jeepney'))\n"
        "print(json.dumps(out))\n"
    )
    env = None if path is None else {"PYTHONPATH": str(path), "PATH": "/usr/bin:/bin"}
    cwd = None if path is None else str(path).split(":")[0]  # `-c` puts the working folder first
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env, cwd=cwd)
    assert run.returncode == 0, run.stderr
    import json

    loaded = json.loads(run.stdout)
    return {
        name: {m for m in mods if m not in ALLOWED and not m.startswith("pingd.shared.")}
        for name, mods in loaded.items()
        if any(m not in ALLOWED and not m.startswith("pingd.shared.") for m in mods)
    }


def test_no_pingctl_module_loads_the_daemon():
    root = Path(pingctl.__file__).resolve().parents[1]
    modules = pingctl_modules(root)
    assert len(modules) > 20 and "pingctl.find.mdns" in modules and "pingctl.show.render" in modules
    assert daemon_side_loaded(modules) == {}


def test_the_check_catches_a_module_that_imports_the_daemon(tmp_path):
    """The check above can fail: a copy of pingctl with one module that imports a daemon-side
    module is caught, and the module named."""
    root = Path(pingctl.__file__).resolve().parents[1]
    shutil.copytree(root / "pingctl", tmp_path / "pingctl")
    shutil.copytree(root / "pingd", tmp_path / "pingd")
    (tmp_path / "pingctl" / "find" / "leak.py").write_text("from pingd.serve import store  # the daemon's\n")
    (tmp_path / "pingctl" / "find" / "bus.py").write_text("import jeepney  # D-Bus\n")
    site = [p for p in sys.path if p.endswith("site-packages")]
    leaked = daemon_side_loaded(pingctl_modules(tmp_path), Path(":".join([str(tmp_path), *site])))
    assert set(leaked) == {"pingctl.find.leak", "pingctl.find.bus"}
    assert "pingd.serve.store" in leaked["pingctl.find.leak"]
    assert "jeepney" in leaked["pingctl.find.bus"]


def test_help_loads_neither_zmq_nor_zeroconf():
    run = subprocess.run(
        [sys.executable, "-c", "import pingctl.cli, sys; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert not {"zmq", "zeroconf", "rich"} & set(run.stdout.split())
