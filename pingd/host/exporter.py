"""Serving ``/metrics`` over HTTP, beside the request loop and never in its way.

The page itself is prometheus-client's (``make_wsgi_app``: the text format or OpenMetrics, as
the scraper asks, gzip when it accepts it); the server around it is pingd's, because what it
must promise is pingd's:

- **Bound where the setting says, at start.** ``bind`` runs in ``create_daemon``: an address
  that cannot be listened on stops the start in one line, as the serving port's does. No reverse
  DNS lookup of it (http.server's ``getfqdn`` would ask the resolver at start).
- **Never in the loop's way.** One thread of its own waits in ``select`` on the listening
  socket and a wake-up pipe, with no timeout: an idle pingd is not woken for it. Each scrape is
  answered on a short-lived thread of its own, which only reads plain ints (pingd.host.metrics).
- **A stop stays fast.** ``close`` writes to the wake-up pipe and waits at most ``JOIN`` seconds
  for the thread, which closes the listening socket as it ends; a scrape still being answered
  goes on or dies with the process, and holds nothing the daemon's stop needs.
- **Bounded.** At most ``MAX_SCRAPES`` connections are answered at once (the hardened unit allows
  64 tasks), others are closed on arrival; a connection that says nothing for ``TIMEOUT``
  seconds is closed; nothing is logged per request, and a client that goes away mid-answer is
  a debug line, not a traceback.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import selectors
import socket
import socketserver
import threading
from collections.abc import Callable
from typing import Any, Final
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from pingd.errors import EXIT_LISTEN, StartupError
from pingd.settings import Config

log = logging.getLogger("pingd")

#: Scrapes answered at once; more connections than this are closed as they arrive.
MAX_SCRAPES: Final = 4
#: Seconds a connection may take to send its request (and to take the answer).
TIMEOUT: Final = 10.0
#: The longest a stop waits for the server's thread.
JOIN: Final = 0.5
#: Out of descriptors, the seconds before the next accept: the backlog holds the scraper.
PAUSE: Final = 0.25

WsgiApp = Callable[..., Any]


def bind_for(config: Config) -> MetricsServer | None:
    """The server the ``metrics`` setting asks for, bound (None when it is off); an address
    that cannot be listened on is one line naming the setting, and the listening exit code."""
    address = config.metrics_address
    if address is None:
        return None
    try:
        return MetricsServer.bind(*address)
    except OSError as exc:
        hint = {
            errno.EADDRINUSE: "another program listens there; choose another port",
            errno.EADDRNOTAVAIL: "this host has no such address",
            errno.EACCES: "permission denied; use a port above 1023",
        }.get(exc.errno or 0, "check the address")
        problem = f"cannot serve metrics on {config.metrics}: {exc.strerror or exc}; {hint}"
        raise StartupError(f"{problem} ({config.origin('metrics')})", EXIT_LISTEN) from None


class _Handler(WSGIRequestHandler):
    timeout = TIMEOUT

    def log_message(self, format: str, *args: Any) -> None:
        """Nothing per request: a scrape every few seconds is not news for the journal."""


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a scrape in progress never holds up the process's exit

    def __init__(self, host: str, port: int, family: socket.AddressFamily) -> None:
        self.address_family = family
        super().__init__((host, port), _Handler, bind_and_activate=False)
        self._slots = threading.BoundedSemaphore(MAX_SCRAPES)
        try:
            if family == socket.AF_INET6 and host == "::":  # every interface, IPv4 too
                self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            self.server_bind()
            self.server_activate()
        except BaseException:
            self.server_close()
            raise

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)  # no getfqdn: no DNS at start
        self.setup_environ()

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # busy: this one is closed, the scraper retries
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("metrics: a request from %s failed", client_address, exc_info=True)


class MetricsServer:
    """An HTTP server for one WSGI app, bound by ``bind`` and served by ``start`` until ``close``."""

    def __init__(self, server: _Server) -> None:
        self._server = server
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._thread: threading.Thread | None = None
        # The pipe is closed by whichever of close() and the thread's end comes last: the
        # lock keeps a wake-up from being written to a number already closed (and reused).
        self._lock = threading.Lock()
        self._closed = False
        self._ended = False

    @classmethod
    def bind(cls, host: str, port: int) -> MetricsServer:
        """Listen on ``host`` (an address literal, or ``*``: every interface) and ``port``
        (0: a free one). Raises OSError when that cannot be done."""
        if host != "*":
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            return cls(_Server(host, port, family))
        try:
            return cls(_Server("::", port, socket.AF_INET6))
        except OSError as exc:
            if exc.errno not in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL):
                raise
            return cls(_Server("0.0.0.0", port, socket.AF_INET))  # a host without IPv6

    @property
    def url(self) -> str:
        host, port = str(self._server.server_address[0]), self._server.server_address[1]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/metrics"

    def start(self, app: WsgiApp) -> None:
        """Answer scrapes with ``app`` from now on, on a thread of the server's own."""
        self._server.set_app(app)
        self._thread = threading.Thread(target=self._serve, name="pingd-metrics", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop answering and close the listening socket; waits at most ``JOIN`` seconds."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._thread is None or self._ended:
                self._server.server_close()
                self._release()
                return
            try:
                os.write(self._wake_w, b"!")
            except OSError:
                pass  # the pipe is full: a wake-up is waiting already
        self._thread.join(JOIN)

    def _release(self) -> None:
        """Close the wake-up pipe (under the lock)."""
        if self._wake_w >= 0:
            for fd in (self._wake_r, self._wake_w):
                os.close(fd)
            self._wake_r = self._wake_w = -1

    def _serve(self) -> None:
        server = self._server
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(server.socket, selectors.EVENT_READ)
                selector.register(self._wake_r, selectors.EVENT_READ)
                while True:
                    for key, _ in selector.select():
                        if key.fileobj == self._wake_r:
                            return
                        if not self._accept() and select.select([self._wake_r], [], [], PAUSE)[0]:
                            return
        except Exception as exc:  # the metrics stop; pingd serves on
            log.error("metrics: no longer served: %s: %s", type(exc).__name__, exc)
        finally:
            server.server_close()
            with self._lock:
                self._ended = True
                if self._closed:
                    self._release()

    def _accept(self) -> bool:
        """One connection: taken, and handed to a thread of its own (or closed, when busy).
        False when pingd is out of descriptors: the next try waits ``PAUSE``."""
        server = self._server
        try:
            request, client = server.get_request()
        except OSError as exc:  # gone before it was taken, or out of descriptors for now
            log.debug("metrics: accept failed: %s", exc)
            return exc.errno not in (errno.EMFILE, errno.ENFILE)
        try:
            server.process_request(request, client)
        except Exception:  # no thread to be had (TasksMax), say
            server.handle_error(request, client)
            server.shutdown_request(request)
        return True
