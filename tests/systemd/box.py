"""A real systemd, booted as PID 1 of its own namespaces, for testing pingd as a service.

The box's root is an overlay of / held in RAM, so nothing done inside touches the host; it has
its own network namespace (only ``lo``), pid, mount, uts, ipc and cgroup namespaces. Commands
run inside through ``nsenter`` (``systemctl`` talks to /run/systemd/private: there is no D-Bus).
``close()`` powers it off and removes everything, even after a failed test.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import textwrap
import time
from pathlib import Path

UNITS = Path("/lib/systemd/system")
BOOT_TIMEOUT = 60.0


def available() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    for tool in ("unshare", "nsenter", "setpriv"):
        if shutil.which(tool) is None:
            return f"needs {tool} (util-linux)"
    if not Path("/lib/systemd/systemd").exists():
        return "needs systemd installed"
    return None


def _cgroup_parent() -> Path:
    unified = Path("/sys/fs/cgroup/unified")
    return unified if (unified / "cgroup.procs").exists() else Path("/sys/fs/cgroup")


class SystemdBox:
    def __init__(self, packaged_units: bool = False) -> None:
        """``packaged_units``: systemd also reads /lib/systemd/system, where packages put their
        units (after the box's own /etc/systemd/system, which overrides the targets, so only
        what the box boots and what a test starts runs)."""
        self.unit_path = "/etc/systemd/system" + (":/lib/systemd/system" if packaged_units else "")
        self.tag = "pdbox" + secrets.token_hex(3)
        self.dir = Path(f"/var/tmp/{self.tag}")
        self.cgroup = _cgroup_parent() / self.tag
        self.outer: subprocess.Popen | None = None
        self.pid: int | None = None  # the box's systemd, as seen from the host

    # -- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> SystemdBox:
        try:
            self.boot()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def boot(self) -> None:
        units = self.dir / "units"
        for d in ("rw", "root", "units"):
            (self.dir / d).mkdir(parents=True, exist_ok=True)
        self.cgroup.mkdir(exist_ok=True)
        for name in (
            "systemd-journald.service",
            "systemd-journald.socket",
            "systemd-journald-dev-log.socket",
            "shutdown.target",
            "umount.target",
            "final.target",
            "poweroff.target",
            "systemd-poweroff.service",
            "network-online.target",
        ):
            if (UNITS / name).exists():
                shutil.copy(UNITS / name, units / name)
        (units / "systemd-journald-audit.socket").symlink_to("/dev/null")
        journal = "systemd-journald.socket systemd-journald-dev-log.socket systemd-journald.service"
        (units / "sysinit.target").write_text(f"[Unit]\nDefaultDependencies=no\nWants={journal}\nAfter={journal}\n")
        for target in ("basic", "sockets", "box", "multi-user"):
            (units / f"{target}.target").write_text("[Unit]\nRequires=sysinit.target\nAfter=sysinit.target\n")
        init = self.dir / "init.sh"
        init.write_text(self._init_script())
        self.outer = subprocess.Popen(
            [
                "setsid",
                "timeout",
                "-s",
                "KILL",
                "900",
                "sh",
                "-c",
                f"echo $$ > {self.cgroup}/cgroup.procs && exec unshare -fpmuinC --kill-child "
                "--propagation private setpriv --bounding-set "
                f"-sys_module,-sys_time,-sys_rawio,-syslog,-wake_alarm,-mknod bash {init}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=open(self.dir / "boot.log", "wb"),  # noqa: SIM115 - the child keeps writing to it
            stderr=subprocess.STDOUT,
        )
        self.pid = self._find_init()
        deadline = time.monotonic() + BOOT_TIMEOUT
        while True:
            state = self.run("systemctl", "is-system-running", check=False).stdout.strip()
            if state in ("running", "degraded"):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"systemd box did not boot ({state}): {self.boot_log()}")
            time.sleep(0.05)

    def _find_init(self) -> int:
        """The box's PID 1: the grandchild of the `timeout` process (unshare forks it)."""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.outer.poll() is not None:
                raise RuntimeError(f"systemd box failed to start: {self.boot_log()}")
            for child in children(self.outer.pid):
                grandchildren = children(child)
                if grandchildren:
                    return grandchildren[0]
            time.sleep(0.02)
        raise RuntimeError(f"systemd box: no init process: {self.boot_log()}")

    def _init_script(self) -> str:
        b = self.dir
        return textwrap.dedent(f"""\
            set -e; R={b}/root
            mount -t tmpfs tmpfs {b}/rw; mkdir {b}/rw/u {b}/rw/w
            mount -t overlay ovl -o lowerdir=/,upperdir={b}/rw/u,workdir={b}/rw/w $R
            mount -t proc proc $R/proc; mount --bind $R/proc/sys $R/proc/sys; mount -o remount,bind,ro $R/proc/sys
            mount -t sysfs -o ro sysfs $R/sys; mount -t cgroup2 cgroup2 $R/sys/fs/cgroup
            mount -t tmpfs -o mode=755 tmpfs $R/dev; mkdir $R/dev/pts $R/dev/shm; ln -s /proc/self/fd $R/dev/fd
            for d in null zero full random urandom tty; do touch $R/dev/$d; mount --bind /dev/$d $R/dev/$d; done
            mount -t devpts -o newinstance,ptmxmode=0666 devpts $R/dev/pts; ln -s pts/ptmx $R/dev/ptmx
            for d in run tmp dev/shm etc/systemd/system; do mount -t tmpfs -o mode=755 tmpfs $R/$d; done
            chmod 1777 $R/tmp $R/dev/shm; cp -a {b}/units/. $R/etc/systemd/system/; echo {self.tag} > $R/etc/hostname
            cd $R; mkdir .old; pivot_root . .old; umount -l /.old; rmdir /.old
            # Shared, as on a host (systemd leaves this to the container manager when
            # $container is set): without it a unit's LoadCredential= files never appear.
            # The box's namespace was made private, so nothing propagates to the host.
            mount --make-rshared /
            exec env -i container={self.tag} SYSTEMD_UNIT_PATH={self.unit_path} \\
              SYSTEMD_GENERATOR_PATH=/run/none SYSTEMD_ENVIRONMENT_GENERATOR_PATH=/run/none \\
              /lib/systemd/systemd --unit=box.target --show-status=no
            """)

    def boot_log(self) -> str:
        try:
            return (self.dir / "boot.log").read_text(errors="replace")[-2000:]
        except OSError:
            return "(no boot log)"

    def close(self) -> None:
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGRTMIN + 4)  # systemd: power off
            except ProcessLookupError:
                pass
        if self.outer is not None:
            try:
                self.outer.wait(15)
            except subprocess.TimeoutExpired:
                if self.pid is not None:
                    try:
                        os.kill(self.pid, signal.SIGKILL)  # ends the whole pid namespace
                    except ProcessLookupError:
                        pass
                self.outer.kill()
                self.outer.wait(10)
        for _ in range(25):
            _remove_cgroup(self.cgroup)
            if not self.cgroup.exists():
                break
            time.sleep(0.2)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.pid = None

    # -- using it ------------------------------------------------------------------------------

    @property
    def root(self) -> Path:
        """The box's root file system, writable from the host (lands in the box's RAM)."""
        return Path(f"/proc/{self.pid}/root")

    def run(self, *cmd: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            ["nsenter", "-t", str(self.pid), "-a", "-r", "-w", *cmd],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def host_pid(self, pid: int) -> int:
        """The host's number for the box's process ``pid`` (/proc/N/status: NSpid)."""
        for procs in self.cgroup.rglob("cgroup.procs"):
            for host in procs.read_text().split():
                status = Path(f"/proc/{host}/status")
                try:
                    spaces = next(line for line in status.read_text().splitlines() if line.startswith("NSpid:"))
                except (OSError, StopIteration):
                    continue  # gone meanwhile
                if int(spaces.split()[-1]) == pid:
                    return int(host)
        raise LookupError(f"no process {pid} in the box")

    def journal(self, unit: str) -> str:
        return self.run("journalctl", "-u", unit, "--no-pager", "-o", "cat", check=False).stdout


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _remove_cgroup(path: Path) -> None:
    if not path.exists():
        return
    for sub in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        try:
            sub.rmdir()
        except OSError:
            pass
    try:
        path.rmdir()
    except OSError:
        pass
