"""A DNS server on 127.0.0.1 (UDP, and TCP if asked) that answers as a test scripts it, in a
thread of its own."""

from __future__ import annotations

import selectors
import socket
import struct
import threading
from collections.abc import Callable

import dns.message

Answer = Callable[[dns.message.Message], list[bytes]]


class ScriptedDns:
    """Each datagram is parsed and handed to ``answer``, whose datagrams go back to the sender
    in order (more than one: noise before the real answer; none: silence). With
    ``tcp_answer``, the same port also takes TCP connections: each message on one is handed to
    it, and its first message goes back (none: the connection is held open, silent).
    ``close()`` stops the thread."""

    def __init__(self, answer: Answer, tcp_answer: Answer | None = None) -> None:
        self.sock, self._tcp = _bind(tcp=tcp_answer is not None)
        self.port = self.sock.getsockname()[1]
        self._answer = answer
        self._tcp_answer = tcp_answer
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self.sock, selectors.EVENT_READ)
            if self._tcp is not None:
                selector.register(self._tcp, selectors.EVENT_READ)
            while not self._stop.is_set():
                for key, _ in selector.select(0.05):
                    if key.fileobj is self.sock:
                        data, peer = self.sock.recvfrom(65535)
                        for datagram in self._answer(dns.message.from_wire(data)):
                            self.sock.sendto(datagram, peer)
                    else:
                        self._serve_tcp()

    def _serve_tcp(self) -> None:
        assert self._tcp is not None and self._tcp_answer is not None
        connection, _ = self._tcp.accept()
        connection.settimeout(5)
        (size,) = struct.unpack("!H", _read(connection, 2))
        answers = self._tcp_answer(dns.message.from_wire(_read(connection, size)))
        if not answers:
            self._held.append(connection)
            return
        connection.sendall(struct.pack("!H", len(answers[0])) + answers[0])
        connection.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()
        for s in (self._tcp, *self._held):
            if s is not None:
                s.close()


def _bind(tcp: bool) -> tuple[socket.socket, socket.socket | None]:
    """A UDP socket on a free loopback port, and a listening TCP one on the same port if asked."""
    for _ in range(20):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        if not tcp:
            return udp, None
        stream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            stream.bind(udp.getsockname())
        except OSError:  # that port is taken for TCP: another
            udp.close()
            stream.close()
            continue
        stream.listen()
        return udp, stream
    raise OSError("no loopback port free for both UDP and TCP")


def _read(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data
