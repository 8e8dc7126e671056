"""The /metrics HTTP server (pingd.shared.metricsserver; pingd.host.exporter binds it where the
setting says): bound where asked, bounded, and never in a
stop's way."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pingd.config import resolve
from pingd.errors import EXIT_LISTEN, StartupError
from pingd.host.exporter import bind_for
from pingd.shared import metricsserver as exporter
from pingd.shared.metricsserver import MetricsServer
from tests.support.processes import wait_for


def _page(body: bytes = b"pingd_up 1\n") -> Callable[..., Any]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]

    return app


def _held(entered: threading.Semaphore, release: threading.Event) -> Callable[..., Any]:
    """A page that is answered only once ``release`` is set; each request releases ``entered``."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        entered.release()
        release.wait(30)
        return _page()(environ, start_response)

    return app


@pytest.fixture
def serving() -> Iterator[Callable[..., MetricsServer]]:
    servers: list[MetricsServer] = []

    def start(host: str = "127.0.0.1", app: Callable[..., Any] | None = None) -> MetricsServer:
        server = MetricsServer.bind(host, 0)
        servers.append(server)
        server.start(app or _page())
        return server

    yield start
    for server in servers:
        server.close()


def _get(host: str, port: int) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _port(server: MetricsServer) -> int:
    return int(server.url.rsplit(":", 1)[1].split("/")[0])


def _refused(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_the_page_is_served_where_the_setting_says_and_nowhere_else(serving: Callable[..., MetricsServer]) -> None:
    server = serving("127.0.0.1")
    port = _port(server)
    assert server.url == f"http://127.0.0.1:{port}/metrics"
    assert _get("127.0.0.1", port) == (200, b"pingd_up 1\n")
    assert _refused("::1", port)


def test_an_ipv6_address_and_every_interface(serving: Callable[..., MetricsServer]) -> None:
    v6 = serving("::1")
    assert v6.url.startswith("http://[::1]:") and _get("::1", _port(v6))[0] == 200
    every = serving("*")
    assert _get("127.0.0.1", _port(every))[0] == 200 and _get("::1", _port(every))[0] == 200


def test_a_stop_waits_for_no_scrape_and_closes_the_port(serving: Callable[..., MetricsServer]) -> None:
    entered, release = threading.Semaphore(0), threading.Event()
    server = serving(app=_held(entered, release))
    port = _port(server)
    scrape = threading.Thread(target=lambda: _get("127.0.0.1", port), daemon=True)
    scrape.start()
    try:
        assert entered.acquire(timeout=5)
        started = time.monotonic()
        server.close()
        assert time.monotonic() - started < exporter.JOIN
        assert _refused("127.0.0.1", port)
    finally:
        release.set()
        scrape.join(10)


def test_scrapes_beyond_the_bound_are_closed_at_once(serving: Callable[..., MetricsServer]) -> None:
    busy, release = threading.Semaphore(0), threading.Event()
    server = serving(app=_held(busy, release))
    port = _port(server)
    scrapes = [threading.Thread(target=_get, args=("127.0.0.1", port)) for _ in range(exporter.MAX_SCRAPES)]
    for thread in scrapes:
        thread.start()
    try:
        for _ in scrapes:
            assert busy.acquire(timeout=5)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as extra:
            extra.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            assert extra.recv(100) == b""  # closed unanswered
    finally:
        release.set()
        for thread in scrapes:
            thread.join(10)
    assert _get("127.0.0.1", port)[0] == 200  # and served again once the others are done


def test_a_connection_that_says_nothing_is_closed(
    serving: Callable[..., MetricsServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exporter, "TIMEOUT", 0.2)
    port = _port(serving())
    with socket.create_connection(("127.0.0.1", port), timeout=5) as idle:
        assert idle.recv(100) == b""
    assert _get("127.0.0.1", port)[0] == 200


def test_clients_that_trickle_their_request_keep_no_scrape_out_and_are_closed_at_their_deadline(
    serving: Callable[..., MetricsServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """More slow clients than there are answering threads, each sending a byte of its request
    now and then: scrapes are answered all the while, and each is closed when its time for the
    whole request is up, however it trickles."""
    monkeypatch.setattr(exporter, "TIMEOUT", 1.0)
    port = _port(serving())
    slow = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(2 * exporter.MAX_SCRAPES)]
    try:
        began = time.monotonic()
        closed: set[int] = set()
        for i in range(40):  # a byte from each every 0.05 s, for at most 2 s
            for n, s in enumerate(slow):
                if n not in closed:
                    try:
                        s.sendall(b"GET /metrics HTTP/1.1\r\n"[i % 10 : i % 10 + 1])
                    except OSError:
                        closed.add(n)
            if i % 5 == 0:
                assert _get("127.0.0.1", port)[0] == 200  # never kept out
            time.sleep(0.05)  # the clients' pace, not a wait for a condition
        for s in slow:
            s.settimeout(2)
            try:
                assert s.recv(100) == b""  # closed by the server, unanswered
            except ConnectionResetError:
                pass  # closed with bytes unread: a reset, as good
        assert time.monotonic() - began < 4
    finally:
        for s in slow:
            s.close()


def test_more_waiting_clients_than_the_bound_are_closed_on_arrival(
    serving: Callable[..., MetricsServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exporter, "MAX_WAITING", 3)
    port = _port(serving())
    waiting = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(3)]
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as extra:
            assert extra.recv(100) == b""  # closed at once: three are waiting
    finally:
        for s in waiting:
            s.close()

    def served() -> bool:
        try:
            return _get("127.0.0.1", port)[0] == 200
        except (OSError, http.client.HTTPException):  # the leavers not yet seen to leave
            return False

    assert wait_for(served, 5, "served once they left")


def test_a_port_in_use_is_one_line_naming_the_setting_and_the_listening_exit_code() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = resolve({"metrics": f"127.0.0.1:{port}"}, {}, {})
        with pytest.raises(StartupError) as info:
            bind_for(config)
    assert info.value.exit_code == EXIT_LISTEN
    assert str(info.value) == (
        f"cannot serve metrics on 127.0.0.1:{port}: Address already in use; another program listens there; "
        "choose another port (--metrics)"
    )


def test_no_server_when_metrics_are_off_and_one_never_started_closes_its_port() -> None:
    assert bind_for(resolve({}, {}, {})) is None
    server = MetricsServer.bind("127.0.0.1", 0)
    port = _port(server)
    server.close()
    server.close()  # twice is once
    wait_for(lambda: _refused("127.0.0.1", port), 5, "the port closed")
