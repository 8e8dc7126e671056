"""Serving ``/metrics`` over HTTP, beside a program's own work and never in its way: pingd's
metrics (``pingd.host.exporter``) and `pingctl monitor`'s.

The page itself is prometheus-client's (``make_wsgi_app``: the text format or OpenMetrics, as
the scraper asks, gzip when it accepts it); the server around it is our own, because what it
must promise is ours:

- **Bound at start.** ``bind`` raises OSError where it cannot listen, for the caller to say in
  one line. No reverse DNS lookup of the address (http.server's ``getfqdn`` would ask the
  resolver at start).
- **Never in the loop's way.** One thread of its own waits in ``select`` on the listening
  socket and a wake-up pipe, with no timeout: an idle program is not woken for it. Each scrape is
  answered on a short-lived thread of its own, which only reads plain numbers (pingd.host.metrics,
  pingctl.exposition).
- **A stop stays fast.** ``close`` writes to the wake-up pipe and waits at most ``JOIN`` seconds
  for the thread, which closes the listening socket as it ends; a scrape still being answered
  goes on or dies with the process, and holds nothing the program's stop needs.
- **Bounded, and slow clients hold nothing up.** The serving thread itself reads each request
  (non-blocking, at most ``MAX_HEAD`` bytes, ``MAX_WAITING`` connections at once; more are closed
  on arrival), and a connection that has not sent its whole request within ``TIMEOUT`` seconds
  is closed, however it trickles. Only a whole request takes one of the ``MAX_SCRAPES`` answering
  threads (pingd's hardened unit allows 64 tasks), so a few clients that connect and dawdle cannot
  keep Prometheus out. Nothing is logged per request, and a client that goes away mid-answer is
  a debug line, not a traceback.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import select
import selectors
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from typing import Any, Final
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

log = logging.getLogger("pingd")  # pingctl's too: only debug lines

#: Scrapes answered at once; more connections than this are closed as they arrive.
MAX_SCRAPES: Final = 4
#: Seconds a connection may take to send its whole request (and to take the answer).
TIMEOUT: Final = 10.0
#: Connections whose request is still coming, at most; and the most of a request read.
MAX_WAITING: Final = 64
MAX_HEAD: Final = 16384
#: The longest a stop waits for the server's thread.
JOIN: Final = 0.5
#: Out of descriptors, the seconds before the next accept: the backlog holds the scraper.
PAUSE: Final = 0.25

WsgiApp = Callable[..., Any]


class _Handler(WSGIRequestHandler):
    """Answers a request the serving thread has read whole (``_Server.heads``)."""

    server: _Server

    def setup(self) -> None:
        self.connection = self.request
        self.connection.setblocking(True)
        self.connection.settimeout(TIMEOUT)
        self.rfile = io.BytesIO(self.server.heads.pop(self.connection.fileno(), b""))
        self.wfile = socketserver._SocketWriter(self.connection)  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        """Nothing per request: a scrape every few seconds is not news for the journal."""


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a scrape in progress never holds up the process's exit

    def __init__(self, host: str, port: int, family: socket.AddressFamily) -> None:
        self.address_family = family
        super().__init__((host, port), _Handler, bind_and_activate=False)
        self._slots = threading.BoundedSemaphore(MAX_SCRAPES)
        #: Each request read whole, by its connection's descriptor, for the handler to take.
        self.heads: dict[int, bytes] = {}
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
            self.heads.pop(request.fileno(), None)
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
        self._thread = threading.Thread(target=self._serve, name="metrics-server", daemon=True)
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
                waiting = _Waiting(selector)
                while True:
                    # No timeout while no request is coming: an idle pingd is not woken.
                    for key, _ in selector.select(waiting.next_deadline()):
                        if key.fileobj == self._wake_r:
                            waiting.close_all()
                            return
                        if key.fileobj is server.socket:
                            if not self._accept(waiting) and select.select([self._wake_r], [], [], PAUSE)[0]:
                                waiting.close_all()
                                return
                        else:
                            self._read(waiting, key.data)
                    waiting.expire()
        except Exception as exc:  # the metrics stop; pingd serves on
            log.error("metrics: no longer served: %s: %s", type(exc).__name__, exc)
        finally:
            server.server_close()
            with self._lock:
                self._ended = True
                if self._closed:
                    self._release()

    def _accept(self, waiting: _Waiting) -> bool:
        """One connection: taken, and its request waited for (or closed, when too many are
        waiting). False when the process is out of descriptors: the next try waits ``PAUSE``."""
        try:
            request, client = self._server.get_request()
        except OSError as exc:  # gone before it was taken, or out of descriptors for now
            log.debug("metrics: accept failed: %s", exc)
            return exc.errno not in (errno.EMFILE, errno.ENFILE)
        if not waiting.add(request, client):
            self._server.shutdown_request(request)
        return True

    def _read(self, waiting: _Waiting, coming: _Coming) -> None:
        """What a waiting connection sent; once its request is whole, a thread answers it."""
        try:
            data = coming.request.recv(MAX_HEAD)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # gone
            waiting.drop(coming)
            self._server.shutdown_request(coming.request)
            return
        coming.head += data
        if b"\r\n\r\n" not in coming.head and b"\n\n" not in coming.head and len(coming.head) < MAX_HEAD:
            return
        waiting.drop(coming)
        server = self._server
        server.heads[coming.request.fileno()] = coming.head[:MAX_HEAD]
        try:
            server.process_request(coming.request, coming.client)
        except Exception:  # no thread to be had (TasksMax), say
            server.heads.pop(coming.request.fileno(), None)
            server.handle_error(coming.request, coming.client)
            server.shutdown_request(coming.request)


class _Coming:
    """A connection whose request is still coming."""

    __slots__ = ("client", "deadline", "head", "request")

    def __init__(self, request: socket.socket, client: Any, deadline: float) -> None:
        self.request, self.client, self.deadline = request, client, deadline
        self.head = b""


class _Waiting:
    """The connections whose request is still coming, in the serving thread's selector."""

    def __init__(self, selector: selectors.BaseSelector) -> None:
        self._selector = selector
        self._coming: dict[int, _Coming] = {}

    def add(self, request: socket.socket, client: Any) -> bool:
        if len(self._coming) >= MAX_WAITING:
            return False
        request.setblocking(False)
        coming = _Coming(request, client, time.monotonic() + TIMEOUT)
        self._coming[request.fileno()] = coming
        self._selector.register(request, selectors.EVENT_READ, coming)
        return True

    def drop(self, coming: _Coming) -> None:
        """No longer waited for (answered, or to be closed by the caller)."""
        self._coming.pop(coming.request.fileno(), None)
        self._selector.unregister(coming.request)

    def next_deadline(self) -> float | None:
        """Seconds until the first deadline; None (wait for ever) with nothing coming."""
        if not self._coming:
            return None
        return max(0.0, min(c.deadline for c in self._coming.values()) - time.monotonic())

    def expire(self) -> None:
        """Close every connection past its deadline."""
        now = time.monotonic()
        for coming in [c for c in self._coming.values() if c.deadline <= now]:
            self.drop(coming)
            _close(coming.request)

    def close_all(self) -> None:
        for coming in list(self._coming.values()):
            self.drop(coming)
            _close(coming.request)


def _close(request: socket.socket) -> None:
    try:
        request.close()
    except OSError:
        pass
