"""The faults the mesh tests inject (tests/support/faults.py) do what they say, and undo it.

Packet loss: a UDP echo between two test hosts loses about the share asked while ``dropping``
is on, with no error at the sender, and nothing once it is off (its nftables table gone). A
slow process: a child answering on a pipe answers late while ``slowed`` is on, and promptly
again after, never left stopped nor in the cgroup made for it.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require
from tests.support import faults
from tests.support.netns import Host, Network
from tests.support.processes import base_env, wait_for

PORT = 7499
PROBES = 300

UDP_ECHO = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.settimeout(0.5)
print("ready", flush=True)
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    try:
        data, peer = s.recvfrom(64)
    except TimeoutError:
        continue
    s.sendto(data, peer)
"""

# Sends COUNT numbered datagrams one at a time, each after the last one's echo or WAIT seconds;
# an echo that comes late still counts as answered. Prints what was sent, answered and refused.
UDP_PROBE = """
import json, socket, sys, time
host, port, count, wait = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((host, port))
answered, errors = set(), []

def take(until, done):
    while not done():
        left = until - time.monotonic()
        if left <= 0:
            return
        s.settimeout(left)
        try:
            answered.add(int.from_bytes(s.recv(64), "big"))
        except TimeoutError:
            return

for seq in range(count):
    try:
        s.send(seq.to_bytes(4, "big"))
    except OSError as exc:
        errors.append(exc.errno)
    take(time.monotonic() + wait, lambda: seq in answered)
take(time.monotonic() + 1.0, lambda: len(answered) == count)
print(json.dumps({"sent": count, "answered": len(answered), "errors": errors}))
"""

PIPE_ECHO = """
import os
while True:
    data = os.read(0, 64)
    if not data:
        break
    os.write(1, data)
"""


def _line(proc: subprocess.Popen, timeout: float) -> bytes:
    """One line of ``proc``'s stdout, waiting at most ``timeout`` seconds."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, f"no line from {proc.args} within {timeout} s"
    return proc.stdout.readline()


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[Host, Host]]:
    """Two test hosts on a bridge, h2 running a UDP echo server on PORT (for at most 300 s)."""
    require(faults.available())
    with Network() as net:
        h1, h2 = net.add_host(), net.add_host()
        server = subprocess.Popen(
            [*h2.prefix, sys.executable, "-c", UDP_ECHO, str(PORT), "300"], stdout=subprocess.PIPE, env=base_env()
        )
        try:
            assert _line(server, 15) == b"ready\n"
            yield h1, h2
        finally:
            _stop(server)


def _echo(client: Host, server: Host) -> dict:
    run = client.run(sys.executable, "-c", UDP_PROBE, server.address, str(PORT), str(PROBES), "0.02", env=base_env())
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_dropping_loses_about_the_share_asked_and_the_sender_sees_no_error(pair):
    h1, h2 = pair
    assert _echo(h1, h2)["answered"] == PROBES  # nothing lost without the rule (and ARP is learnt)
    with faults.dropping(h1, 30) as drop:
        assert drop.present()
        lossy = _echo(h1, h2)
        dropped = drop.dropped
    lost = PROBES - lossy["answered"]
    assert lossy["errors"] == []  # silent for the sender: no EPERM from send()
    assert 0.15 * PROBES <= lost <= 0.45 * PROBES, lossy
    assert dropped >= lost > 0  # every request lost was the rule's (it may also drop ARP, IPv6)
    assert not drop.present()
    assert _echo(h1, h2)["answered"] == PROBES


def test_dropping_removes_its_table_after_an_exception(pair):
    h1, _ = pair
    with pytest.raises(KeyError), faults.dropping(h1, 100) as drop:
        assert drop.present() and drop.dropped >= 0
        raise KeyError("the test failed inside the block")
    assert not drop.present()
    run = h1.run("nft", "list", "ruleset")
    assert run.returncode == 0 and drop.table not in run.stdout


@pytest.mark.parametrize("percent", [-1, 101, 30.0])
def test_dropping_refuses_a_share_that_is_not_a_percentage(percent):
    with pytest.raises(ValueError), faults.dropping(Host("unused", "10.213.0.9", "unused"), percent):
        pass


# --- slowed ------------------------------------------------------------------------------------


@pytest.fixture
def echo() -> Iterator[subprocess.Popen]:
    """A child that echoes what it reads on its stdin pipe, stopped by its PID at the end."""
    proc = subprocess.Popen(
        [sys.executable, "-c", PIPE_ECHO], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0, env=base_env()
    )
    try:
        _rtt_ms(proc, timeout=15)  # started and answering
        yield proc
    finally:
        _stop(proc)


def _rtt_ms(proc: subprocess.Popen, timeout: float = 5.0) -> float:
    start = time.monotonic()
    os.write(proc.stdin.fileno(), b"x")
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, f"no echo within {timeout} s"
    assert os.read(proc.stdout.fileno(), 64) == b"x"
    return (time.monotonic() - start) * 1000


def _state(pid: int) -> str:
    status = Path(f"/proc/{pid}/status").read_text()
    return next(line.split()[1] for line in status.splitlines() if line.startswith("State:"))


def _cgroup(pid: int) -> str:
    return Path(f"/proc/{pid}/cgroup").read_text()


def _assert_left_as_it_was(proc: subprocess.Popen, slow: faults.Slowing, cgroup_before: str) -> None:
    assert proc.poll() is None
    assert _state(proc.pid) != "T"
    assert _cgroup(proc.pid) == cgroup_before
    if slow.cgroup is not None:
        assert not slow.cgroup.exists()
    assert statistics.median(_rtt_ms(proc) for _ in range(30)) < 20


@pytest.mark.parametrize("method", [None, "signals"])
def test_slowed_delays_replies_and_leaves_the_process_running_where_it_was(echo, method):
    """Stopped 150 of every 160 ms, a probe sent at a random moment waits 20 ms or more with
    probability 0.81, so the median of 30 is under 20 ms about once in 10⁵ runs (with the
    default 80 of 100 it would be 0.6: one run in ten). Each probe waits a random part of a
    period after the last echo, so probes do not all fall in the 10 ms the process runs."""
    before = _cgroup(echo.pid)
    with faults.slowed(echo.pid, stopped_ms=150, period_ms=160, method=method) as slow:
        if method is None and faults.freezer_parent(echo.pid) is not None:
            assert slow.method == "freezer" and slow.cgroup is not None and slow.cgroup.is_dir()
            assert str(echo.pid) in (slow.cgroup / "cgroup.procs").read_text().split()
        rtts = []
        for _ in range(30):
            time.sleep(random.uniform(0, 0.16))  # a random phase of the bursts, not a wait for anything
            rtts.append(_rtt_ms(echo))
    assert statistics.median(rtts) >= 20, sorted(rtts)
    assert slow.bursts >= 5
    _assert_left_as_it_was(echo, slow, before)


@pytest.mark.parametrize("method", [None, "signals"])
def test_slowed_undoes_itself_after_an_exception(echo, method):
    before = _cgroup(echo.pid)
    with pytest.raises(KeyError), faults.slowed(echo.pid, 90, 100, method=method) as slow:
        wait_for(lambda: slow.bursts >= 3, 10, "three bursts")
        raise KeyError("the test failed inside the block")
    _assert_left_as_it_was(echo, slow, before)


@pytest.mark.parametrize("method", [None, "signals"])
def test_slowed_stops_when_the_process_has_exited(echo, method):
    with faults.slowed(echo.pid, 50, 60, method=method) as slow:
        wait_for(lambda: slow.bursts >= 1, 10, "a burst")
        echo.send_signal(signal.SIGKILL)
        echo.wait(10)  # reaped: its pid is free, and no longer this process
        assert not slow.same_process()
    if slow.cgroup is not None:
        assert not slow.cgroup.exists()


def test_slowed_refuses_a_process_that_does_not_exist():
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(30)
    with pytest.raises(ProcessLookupError), faults.slowed(gone.pid):
        pass
