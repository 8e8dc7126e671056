"""`pingctl monitor` in-process: flags refused in one line, a listen address in use, and a run
against a fake daemon given by address, scraped, then ended by SIGTERM with exit 0."""

from __future__ import annotations

import os
import signal
import socket
import threading
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pingctl.errors import PingctlError
from pingd.shared import protocol
from tests.pingctl.commands.conftest import STATUS
from tests.support import wire
from tests.support.fakes import fake_router
from tests.support.processes import free_port, wait_for


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--interval", "0"], "--interval takes a number of seconds"),
        (["--timeout", "nan"], "--timeout takes a number of seconds"),
        (["--forget-after", "-1"], "--forget-after takes a number of seconds"),
        (["--server-ip", "127.0.0.1", "--name", "box"], "--server-ip probes the addresses given: drop --name"),
        (["--port", "7464"], "--port and --server-key go with --server-ip"),
        (["--server-ip", "127.0.0.1", "--server-key", "short"], "--server-key takes a 40-character"),
        (["--server-ip", "127.0.0.1", "--port", "70000"], "port 70000 is out of range"),
        (["--listen", "7466"], "--listen takes HOST:PORT"),
        (["--server-ip", "[::1"], "--server-ip takes HOST:PORT or [IPv6]:PORT"),
    ],
)
def test_flags_that_cannot_work_are_refused_in_one_line(pingctl, args, message):
    ran = pingctl("monitor", *args)
    assert ran.code == 2 and ran.out == ""
    assert ran.err.startswith(f"pingctl: {message}") and ran.err.count("\n") == 1


def test_a_listen_address_in_use_is_one_line_and_exit_2(pingctl):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        ran = pingctl("monitor", "--server-ip", "127.0.0.1", "--listen", f"127.0.0.1:{port}")
    assert ran.code == 2 and ran.out == ""
    assert ran.err == (
        f"pingctl: cannot serve metrics on 127.0.0.1:{port}: the address is in use (another monitor?); "
        "choose another with --listen\n"
    )


def test_a_given_daemon_is_probed_scraped_and_sigterm_ends_it_with_exit_0(pingctl):
    def daemon(frame: bytes) -> bytes:
        seq = protocol.sequence_of(frame)
        if frame[3] == protocol.MessageType.STATUS:
            return protocol.encode_status_reply(seq, {**STATUS, "name": "given", "node_id": "00dd"})
        return wire.pong(seq, 9)

    url = f"http://127.0.0.1:{free_port()}/metrics"
    scraped: list[str] = []

    def scrape_then_stop() -> None:
        try:
            wait_for(lambda: _received(url, scraped) >= 3, 20, "three answers on the scrape")
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # as systemd stops it

    with fake_router(daemon) as port:
        helper = threading.Thread(target=scrape_then_stop, daemon=True)
        helper.start()
        ran = pingctl("monitor", "--server-ip", f"127.0.0.1:{port}", "--listen", url[7:-8], "-i", "0.05")
        helper.join(10)
    assert ran.code == 0 and ran.err == ""
    assert ran.out == f"pingctl monitor: metrics on {url}; probing 127.0.0.1:{port} every 0.05 s (Ctrl-C to stop)\n"
    assert f'address="127.0.0.1:{port}",name="given",node_id="00dd"' in scraped[-1]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # put back as it was


def _received(url: str, scraped: list[str]) -> float:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
    except OSError:  # not serving yet
        return 0
    scraped.append(text)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "pingctl_monitor_received_total":
                return s.value
    return 0


def test_a_discovery_source_that_cannot_start_is_one_line_and_exit_2(pingctl, monkeypatch):
    from pingctl.find import follow

    def broken(interfaces, domain, news, stop):
        news(PingctlError("cannot start mDNS discovery ([Errno 99] Cannot assign requested address)"))
        return []

    monkeypatch.setattr(follow, "follow", broken)
    ran = pingctl("monitor", "--mdns-interface", "192.0.2.254", "--listen", f"127.0.0.1:{free_port()}")
    assert ran.code == 2
    assert ran.err == "pingctl: cannot start mDNS discovery ([Errno 99] Cannot assign requested address)\n"
