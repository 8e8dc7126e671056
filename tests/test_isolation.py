"""The suite's own parallel run: each pytest-xdist worker has a loopback of its own."""

from __future__ import annotations

import os

from tests.conftest import IN_CI
from tests.support import isolation


def test_a_parallel_worker_runs_in_a_network_namespace_of_its_own():
    """Under CI (root, two workers) this test runs on a worker, which must not share the machine's
    loopback; a serial run shares it, and must not claim a worker id."""
    if isolation.worker() is None:
        assert not (IN_CI and os.geteuid() == 0), "make test under CI runs the suite in parallel workers"
        return
    assert isolation.isolated()
    with isolation.machine_network():
        assert not isolation.isolated()
    assert isolation.isolated()
