"""Daemons that are not pingd, for pointing pingctl and the client at them."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import zmq

from pingd.shared import addresses, protocol


@contextlib.contextmanager
def fake_router(reply: Callable[[bytes], bytes | None]) -> Iterator[int]:
    """A ROUTER on 127.0.0.1 answering each request frame with ``reply(frame)`` (None: no
    answer); yields its port. Serves for at most 60 s."""
    context = zmq.Context()
    router = context.socket(zmq.ROUTER)
    router.linger = 0
    port = router.bind_to_random_port("tcp://127.0.0.1")
    stop = threading.Event()

    def serve() -> None:
        deadline = time.monotonic() + 60
        while not stop.is_set() and time.monotonic() < deadline:
            if router.poll(100):
                peer, frame = router.recv_multipart()
                answer = reply(frame)
                if answer is not None:
                    router.send_multipart([peer, answer])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        stop.set()
        thread.join(5)
        router.close(0)
        context.term()


class ScriptedRouter:
    """A ROUTER that answers the n-th request with ``script[n](seq)`` frames (None: no answer)."""

    def __init__(self, script: list[Callable[[int], list[bytes]] | None]) -> None:
        self.context = zmq.Context()
        self.sock = self.context.socket(zmq.ROUTER)
        self.sock.linger = 0
        self.sock.rcvtimeo = 5000
        self.port = self.sock.bind_to_random_port("tcp://127.0.0.1")
        self.script = list(script)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        for answer in self.script:
            try:
                peer, frame = self.sock.recv_multipart()
            except zmq.Again:
                return
            seq = protocol.HEADER.unpack_from(frame)[3]
            for reply in answer(seq) if answer else ():
                self.sock.send_multipart([peer, reply])

    def close(self) -> None:
        self.thread.join(10)
        self.sock.close(0)
        self.context.term()


class TcpServer:
    """A TCP server on 127.0.0.1 that hands each connection to ``handler`` (for 60 s at most)."""

    def __init__(self, handler: Callable[[socket.socket], None]) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        self.stop = False
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        deadline = time.monotonic() + 60
        while not self.stop and time.monotonic() < deadline:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.conns.append(conn)
            try:
                self.handler(conn)
            except OSError:
                pass

    def close(self) -> None:
        self.stop = True
        self.thread.join(5)
        self.sock.close()
        for conn in self.conns:
            conn.close()


@contextlib.contextmanager
def dealer(port: int, host: str = "127.0.0.1", routing_id: bytes | None = None) -> Iterator[zmq.Socket]:
    """A raw DEALER connected to ``host:port`` (linger 0), for speaking the protocol by hand."""
    context = zmq.Context()
    sock = context.socket(zmq.DEALER)
    sock.linger = 0
    if routing_id is not None:
        sock.routing_id = routing_id
    sock.connect(addresses.endpoint(host, port))
    try:
        yield sock
    finally:
        sock.close(0)
        context.term()
