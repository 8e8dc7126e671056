"""Faults for tests of the mesh: a test host that loses packets, a process that answers late.

``dropping(host, percent)`` drops a share of a test host's outgoing packets at random, at the
host's interface (an nftables netdev egress hook), so the sender sees nothing: no EPERM, no
error at all, as when a cable or a switch loses them. A rule in the host's ``output`` hook
would make ``send()`` fail with EPERM instead, which no real lossy link does.

``slowed(pid)`` stops a running process for ``stopped_ms`` of every ``period_ms``, by the
cgroup v2 freezer where one can be written, else by SIGSTOP/SIGCONT.

Both undo themselves on exit, even after an exception. Measured on the machine the tests run
on (Debian 12, kernel 6.18): no netem in the kernel, nft from Debian's ``nftables`` package,
a hybrid cgroup layout whose cgroup2 mount has no ``cpu`` controller but has the freezer.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.netns import Host


def available() -> str | None:
    """None if ``dropping`` can work here, else why not."""
    if os.geteuid() != 0:
        return "needs root"
    if shutil.which("nft") is None:
        return "needs nft (Debian package nftables)"
    if shutil.which("ip") is None:
        return "needs iproute2 (ip)"
    return None


# --- packet loss -------------------------------------------------------------------------------


def _nft(host: Host, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*host.prefix, "nft", *args], input=stdin, capture_output=True, text=True, timeout=30)


@dataclass
class Dropping:
    """A drop rule on ``host``'s interface, in nftables table ``table`` (family netdev)."""

    host: Host
    percent: int
    table: str

    @property
    def dropped(self) -> int:
        """Packets the rule has dropped so far (its counter)."""
        run = _nft(self.host, "-j", "list", "table", "netdev", self.table)
        if run.returncode != 0:
            raise RuntimeError(f"nft could not list table netdev {self.table}: {run.stderr.strip()}")
        for item in json.loads(run.stdout)["nftables"]:
            for expr in item.get("rule", {}).get("expr", []):
                if "counter" in expr:
                    return int(expr["counter"]["packets"])
        raise RuntimeError(f"no counter in table netdev {self.table}")

    def present(self) -> bool:
        """Whether the table is still on the host."""
        run = _nft(self.host, "-j", "list", "tables", "netdev")
        if run.returncode != 0:
            raise RuntimeError(f"nft could not list the host's tables: {run.stderr.strip()}")
        tables = [item["table"]["name"] for item in json.loads(run.stdout)["nftables"] if "table" in item]
        return self.table in tables


@contextmanager
def dropping(host: Host, percent: int) -> Iterator[Dropping]:
    """Drop ``percent`` % of ``host``'s outgoing packets, each at random, for the block.

    A netdev table with an egress chain on ``host.interface``: the packets leave the sender's
    stack as sent (``send()`` succeeds) and vanish before the wire. ARP and IPv6 neighbour
    packets are dropped too, as on a lossy link. The table is deleted on exit, even after an
    exception; ``.dropped`` reads how many packets the rule has dropped.
    """
    if not (isinstance(percent, int) and 0 <= percent <= 100):
        raise ValueError(f"percent must be an integer 0-100, not {percent!r}")
    drop = Dropping(host, percent, f"pingd_fault_{secrets.token_hex(3)}")
    chance = f"numgen random mod 100 < {percent} " if percent < 100 else ""  # nft refuses "< 100"
    # nft 1.0.6 rejects a whole table on one line: one statement a line.
    ruleset = (
        f"table netdev {drop.table} {{\n"
        f"  chain egress {{\n"
        f'    type filter hook egress device "{host.interface}" priority 0; policy accept;\n'
        f"    {chance}counter drop\n"
        f"  }}\n"
        f"}}\n"
    )
    made = _nft(host, "-f", "-", stdin=ruleset)
    if made.returncode != 0:
        raise RuntimeError(f"nft refused the drop rule on {host.namespace}: {made.stderr.strip()}")
    try:
        yield drop
    finally:
        gone = _nft(host, "delete", "table", "netdev", drop.table)
        if gone.returncode != 0 and drop.present():
            raise RuntimeError(f"could not delete table netdev {drop.table}: {gone.stderr.strip()}")


# --- a slow process ----------------------------------------------------------------------------


def start_time(pid: int) -> int | None:
    """When process ``pid`` started (field 22 of /proc/PID/stat, clock ticks after boot), or
    None if there is no such process. A pid reused by a new process has a new start time."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[19])  # fields from 3 on, after "(comm)"


def _cgroup2_mount() -> Path | None:
    """Where the cgroup v2 hierarchy is mounted (``/sys/fs/cgroup``, or ``…/unified`` in the
    hybrid layout), or None."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        before, _, after = line.partition(" - ")
        if after.split()[:1] == ["cgroup2"]:
            return Path(before.split()[4])
    return None


def _v2_cgroup(pid: int) -> str | None:
    """Process ``pid``'s cgroup in the v2 hierarchy (``/`` or ``/a/b``), or None."""
    try:
        for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                return line[3:]
    except FileNotFoundError:
        pass
    return None


def freezer_parent(pid: int) -> Path | None:
    """The cgroup v2 directory under which ``slowed`` can make a child to freeze ``pid`` in
    (the process's own cgroup), or None where there is no writable cgroup2 hierarchy."""
    mount, own = _cgroup2_mount(), _v2_cgroup(pid)
    if mount is None or own is None:
        return None
    parent = mount / own.lstrip("/")
    if not parent.is_dir() or not os.access(parent, os.W_OK) or not os.access(parent / "cgroup.procs", os.W_OK):
        return None
    return parent


@dataclass
class Slowing:
    """A process being stopped in bursts: how (``"freezer"`` or ``"signals"``), in which child
    cgroup (for the freezer), and how many bursts have begun."""

    pid: int
    stopped_ms: int
    period_ms: int
    method: str
    cgroup: Path | None = None
    origin: Path | None = None  # the cgroup the process came from (for the freezer)
    bursts: int = 0
    started: int | None = None  # the process's start time, to know it is still the same one
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ending: bool = False
    _error: BaseException | None = None

    def same_process(self) -> bool:
        return self.started is not None and start_time(self.pid) == self.started

    def _pause(self, on: bool) -> bool:
        """Stop or resume the process; False once it is gone (then nothing is signalled)."""
        if self.cgroup is not None:
            (self.cgroup / "cgroup.freeze").write_text("1" if on else "0")
            return self.same_process()
        if not self.same_process():
            return False
        try:
            os.kill(self.pid, signal.SIGSTOP if on else signal.SIGCONT)
        except ProcessLookupError:
            return False
        return True

    def _run(self, wake: threading.Event) -> None:
        stopped, running = self.stopped_ms / 1000, (self.period_ms - self.stopped_ms) / 1000
        try:
            while True:
                with self._lock:
                    if self._ending or not self._pause(True):
                        return
                    self.bursts += 1
                wake.wait(stopped)
                with self._lock:
                    if self._ending or not self._pause(False):
                        return
                if running > 0:
                    wake.wait(running)
        except BaseException as exc:  # reported on exit
            self._error = exc

    def _end(self) -> None:
        """Resume the process for good and put it back where it was."""
        with self._lock:
            self._ending = True
            if self.cgroup is None:
                self._pause(False)
                return
            (self.cgroup / "cgroup.freeze").write_text("0")
            assert self.origin is not None
            # Every process in the child (the slowed one, and any child it forked meanwhile).
            for _ in range(100):
                procs = (self.cgroup / "cgroup.procs").read_text().split()
                if not procs:
                    break
                for pid in procs:
                    try:
                        (self.origin / "cgroup.procs").write_text(pid)
                    except ProcessLookupError:
                        pass  # exited meanwhile
            _remove_cgroup(self.cgroup)


def _remove_cgroup(path: Path, timeout: float = 10.0) -> None:
    """rmdir a cgroup; an emptied cgroup can stay busy for a moment while exiting tasks finish."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def _freeze_in_child(slow: Slowing) -> bool:
    """Move the process into a new child cgroup with a freezer; False where that cannot be."""
    parent = freezer_parent(slow.pid)
    if parent is None:
        return False
    child = parent / f"pingd-slow-{secrets.token_hex(3)}"
    try:
        child.mkdir()
    except OSError:
        return False
    if not (child / "cgroup.freeze").exists():  # a kernel before 5.2: no v2 freezer
        _remove_cgroup(child)
        return False
    try:
        (child / "cgroup.procs").write_text(str(slow.pid))
    except OSError:
        _remove_cgroup(child)
        return False
    slow.cgroup, slow.origin, slow.method = child, parent, "freezer"
    return True


@contextmanager
def slowed(pid: int, stopped_ms: int = 80, period_ms: int = 100, method: str | None = None) -> Iterator[Slowing]:
    """Make running process ``pid`` slow to answer, in bursts: stopped ``stopped_ms`` of every
    ``period_ms``, from a thread, for the block.

    Bursts, not a CPU quota: a quota (cgroup v1 ``cpu.cfs_quota_us``; v2 ``cpu.max`` is not
    available in this machine's hybrid layout) slows only a process that needs the CPU. An idle
    daemon answering the odd request uses almost none and answered as fast under a 5 % cap as
    without it (0.25 ms), whereas stopping it 80 of every 100 ms made the same server answer in
    80 ms at the median (research29 FINDINGS §2).

    ``method`` None prefers the cgroup v2 freezer (the process moved into a new child of its
    own cgroup, whose ``cgroup.freeze`` is toggled) where a writable cgroup2 hierarchy has one,
    else SIGSTOP/SIGCONT; ``"signals"`` or ``"freezer"`` insist. On exit, even after an
    exception, the process is resumed, moved back to its cgroup and the child removed. A
    process that has exited (its /proc/PID/stat start time gone or changed) is never signalled.
    ``.bursts`` counts the stops begun; ``.method`` says which way was used.
    """
    if not 0 < stopped_ms <= period_ms:
        raise ValueError(f"need 0 < stopped_ms <= period_ms, not {stopped_ms} and {period_ms}")
    if method not in (None, "freezer", "signals"):
        raise ValueError(f"method must be freezer or signals, not {method!r}")
    slow = Slowing(pid, stopped_ms, period_ms, "signals", started=start_time(pid))
    if slow.started is None:
        raise ProcessLookupError(f"no process {pid}")
    if method != "signals" and not _freeze_in_child(slow) and method == "freezer":
        raise RuntimeError("no writable cgroup v2 hierarchy with a freezer here")
    wake = threading.Event()
    thread = threading.Thread(target=slow._run, args=(wake,), name=f"slowed-{pid}", daemon=True)
    try:
        thread.start()
        yield slow
    finally:
        wake.set()
        try:
            slow._end()
        finally:
            thread.join(10)
    if slow._error is not None:
        raise RuntimeError(f"stopping process {pid} in bursts failed") from slow._error
