"""`make demo`: start a pingd on loopback, find it by mDNS, run a ping session, stop it.

Everything stays on this machine: the daemon listens on 127.0.0.1, mDNS is confined to the
loopback interface, and the state lives in a temporary directory removed at the end.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

READY_TIMEOUT = 15.0


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="pingd-demo-") as tmp:
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify_path = os.path.join(tmp, "notify")
        notify.bind(notify_path)
        notify.settimeout(READY_TIMEOUT)
        env = {**os.environ, "NOTIFY_SOCKET": notify_path}
        daemon_cmd = [
            sys.executable,
            "-m",
            "pingd",
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--state-file",
            os.path.join(tmp, "state.json"),
            "--name",
            "pingd-demo",
            "--mdns-interface",
            "127.0.0.1",
        ]
        print("$ " + " ".join(["pingd", *daemon_cmd[3:]]), flush=True)
        daemon = subprocess.Popen(daemon_cmd, env=env, stdin=subprocess.DEVNULL)
        try:
            if not _wait_for(notify, daemon, lambda m: "READY=1" in m.split("\n")):
                print("demo: pingd did not become ready", file=sys.stderr)
                return 1
            # pingd serves at once; its mDNS name is probed for about a second before it is
            # announced (RFC 6762). Wait for that, so the session shows discovery as users meet it.
            _wait_for(notify, daemon, lambda m: "announced as" in m)
            ping_cmd = ["ping", "--count", "20", "--interval", "0.05", "--mdns-interface", "127.0.0.1"]
            print("\n$ pingctl " + " ".join(ping_cmd), flush=True)
            started = time.monotonic()
            code = subprocess.call([sys.executable, "-m", "pingctl", *ping_cmd])
            print(f"(pingctl ran {time.monotonic() - started:.2f} s, discovery included)\n", flush=True)
            return code
        finally:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(15)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
            notify.close()


def _wait_for(notify: socket.socket, daemon: subprocess.Popen, wanted) -> bool:
    """Read sd_notify messages until one satisfies ``wanted`` (bounded by READY_TIMEOUT)."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline and daemon.poll() is None:
        try:
            message = notify.recv(4096).decode()
        except TimeoutError:
            return False
        if wanted(message):
            return True
    return False


if __name__ == "__main__":
    sys.exit(main())
