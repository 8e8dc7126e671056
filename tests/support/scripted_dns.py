"""A DNS server on 127.0.0.1 (UDP) that answers as a test scripts it, in a thread of its own."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

import dns.message


class ScriptedDns:
    """Each datagram is parsed and handed to ``answer``, whose datagrams go back to the sender
    in order (more than one: noise before the real answer). ``close()`` stops the thread."""

    def __init__(self, answer: Callable[[dns.message.Message], list[bytes]]) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self._answer = answer
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            for datagram in self._answer(dns.message.from_wire(data)):
                self.sock.sendto(datagram, peer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()
