"""The tests' own process handling (tests/support/processes.py): a daemon that never comes up,
or a watcher that does not end on Ctrl-C, is not left running behind the failure, and shows
where it hung."""

from __future__ import annotations

import sys

import pytest

from tests.support.processes import Daemon, Watcher, base_env


def test_a_daemon_that_never_listens_is_killed_when_its_start_times_out() -> None:
    silent = [sys.executable, "-c", "import time; print('never listening', flush=True); time.sleep(60)"]
    daemon = Daemon(args=[], env=base_env(), command=silent)
    with pytest.raises(AssertionError, match="pingd to listen.*never listening") as failed:
        daemon.start(timeout=1.0)
    assert daemon.proc is not None and daemon.proc.poll() is not None  # not left behind
    assert 'File "<string>", line 1' in str(failed.value)  # where it hung: its stack, dumped


def test_a_watcher_still_running_after_ctrl_c_is_aborted_and_shows_where_it_hung() -> None:
    deaf = "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); print('watching', flush=True); "
    deaf += "time.sleep(60)"
    watcher = Watcher(command=[sys.executable, "-c", deaf])
    watcher.first(lambda line: line == "watching", 10, "the watcher to start")
    with pytest.raises(AssertionError, match="still ran 0.5 s after Ctrl-C") as failed:
        watcher.stop(grace=0.5)
    assert watcher.proc.poll() is not None  # not left behind
    assert 'File "<string>", line 1' in str(failed.value)  # its stack, dumped
