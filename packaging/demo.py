"""`make demo`: start a pingd on loopback, find it by mDNS, run a ping session, stop it.

Everything stays on this machine: the daemon listens on 127.0.0.1, mDNS is confined to the
loopback interface, and the state lives in a temporary directory removed at the end. pingd is
started and watched the way the tests and the benchmark do it (tests.support), as systemd
would: a notify socket says when it is ready and when its mDNS name is announced.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time

from tests.support.processes import ReadyPingd, pingd_until_ready

READY_TIMEOUT = 15.0
NAME = "pingd-demo"


def announced_name(daemon: ReadyPingd) -> str:
    """The name pingd announced, as its status line tells systemd: NAME, unless another daemon
    on the link held it and pingd took the next free one (pingd-demo-2)."""
    try:
        line = daemon.notify.wait_for(lambda m: "announced as" in m, READY_TIMEOUT, daemon.proc)
    except TimeoutError:
        print("demo: pingd was not announced over mDNS; continuing", file=sys.stderr)
        return NAME
    found = re.search(r"announced as '([^']+)'", line)
    return found.group(1) if found else NAME


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="pingd-demo-") as tmp:
        args = [
            "--bind", "127.0.0.1", "--port", "0",
            "--state-file", os.path.join(tmp, "state.json"),
            "--name", NAME, "--mdns-interface", "127.0.0.1",
        ]  # fmt: skip
        print("$ pingd " + " ".join(args), flush=True)
        try:
            with pingd_until_ready(args, env=dict(os.environ), stderr=None, timeout=READY_TIMEOUT) as daemon:
                # pingd serves at once; its mDNS name is probed for about a second before it is
                # announced (RFC 6762). Wait for that, so the session shows discovery as users meet it.
                name = announced_name(daemon)
                # By name: other daemons on the loopback (a test run, another demo) answer too.
                ping = ["ping", "--name", name, "--count", "20", "--interval", "0.05", "--mdns-interface", "127.0.0.1"]
                print("\n$ pingctl " + " ".join(ping), flush=True)
                started = time.monotonic()
                code = subprocess.call([sys.executable, "-m", "pingctl", *ping])
                print(f"(pingctl ran {time.monotonic() - started:.2f} s, discovery included)\n", flush=True)
                return code
        except RuntimeError as exc:
            print(f"demo: {exc}", file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main())
