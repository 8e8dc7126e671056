"""pingctl's side of the contract: it speaks pingd.protocol and nothing of the daemon.

That boundary keeps pingctl light (a control CLI is started thousands of times) and keeps the
wire contract in one place."""

from __future__ import annotations

import subprocess
import sys

DAEMON_SIDE = (
    "pingd.server",
    "pingd.store",
    "pingd.config",
    "pingd.announce",
    "pingd.listener",
    "pingd.persistence",
    "pingd.counter",
    "pingd.netinfo",
    "pingd.systemd",
    "pingd.security",
)


def _loaded_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return set(out.split())


def test_importing_pingctl_loads_none_of_the_daemon():
    everything = ", ".join(
        f"pingctl.{m}"
        for m in (
            "cli",
            "client",
            "discovery",
            "render",
            "session",
            "stats",
            "trust",
            "watch",
            "output",
            "text",
            "limits",
        )
    )
    loaded = _loaded_after(f"import {everything}")
    assert not loaded & set(DAEMON_SIDE), loaded & set(DAEMON_SIDE)
    assert "pingd.protocol" in loaded


def test_help_loads_neither_zmq_nor_zeroconf():
    loaded = _loaded_after("import pingctl.cli")
    assert not {"zmq", "zeroconf", "rich"} & loaded
