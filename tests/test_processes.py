"""The tests' own process handling (tests/support/processes.py): a daemon that never comes up
is not left running behind a failed start, and shows where it hung."""

from __future__ import annotations

import sys

import pytest

from tests.support.processes import Daemon, base_env


def test_a_daemon_that_never_listens_is_killed_when_its_start_times_out() -> None:
    silent = [sys.executable, "-c", "import time; print('never listening', flush=True); time.sleep(60)"]
    daemon = Daemon(args=[], env=base_env(), command=silent)
    with pytest.raises(AssertionError, match="pingd to listen.*never listening") as failed:
        daemon.start(timeout=1.0)
    assert daemon.proc is not None and daemon.proc.poll() is not None  # not left behind
    assert 'File "<string>", line 1' in str(failed.value)  # where it hung: its stack, dumped
