"""The systemd tests' shared fixtures: the Debian package, built once per session, and a
fresh box per test that also reads the packages' units (test_service.py has its own box,
with the project's install step instead)."""

from __future__ import annotations

import time

import pytest

from tests.conftest import require
from tests.support import isolation
from tests.systemd import debs


@pytest.fixture(scope="session")
def current_deb(tmp_path_factory) -> debs.Built:
    """pingd's package at its own version."""
    from tests.systemd.box import available

    require(available())
    out = tmp_path_factory.mktemp("debs")
    started = time.monotonic()
    with isolation.machine_network():  # the build fetches wheels
        path = debs.build(out)
    return debs.Built(path, time.monotonic() - started)


@pytest.fixture(scope="session")
def packages(current_deb) -> debs.Packages:
    """Version N and, the same package relabelled, N+1 for the upgrade."""
    current = current_deb.path
    upgrade = debs.relabelled(current, f"{debs.version_of(current)}+1")
    return debs.Packages(current, upgrade, current_deb.seconds)


@pytest.fixture
def box():
    from tests.systemd.box import SystemdBox, available

    require(available())
    with SystemdBox(packaged_units=True) as b:
        yield b
