"""One exchange with a DNS server, bounded by one deadline, that a stopping pingd can call off.

The registrar's thread asks its questions and sends its updates through ``exchange``: over a
connected UDP socket (only the server's datagrams reach it, and a port with nothing on it is
known at once), over TCP when the answer is truncated, the whole of it within ``timeout``.
Beside the socket it waits on a ``Waker``: pingd stopping mid-exchange wakes it at once, so a
stop never waits out a silent server's timeout. (dnspython's ``dns.query`` waits on its
socket alone, and gives UDP and TCP a timeout each.)
"""

from __future__ import annotations

import errno
import math
import os
import select
import socket
import struct
import time

import dns.exception
import dns.flags
import dns.message

from pingd.shared.addresses import family


class Interrupted(Exception):
    """The exchange was called off: its ``Waker`` woke (pingd is stopping)."""


class Waker:
    """A file descriptor to wait on beside a socket; ``wake()`` makes it readable for good."""

    def __init__(self) -> None:
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)

    def fileno(self) -> int:
        return self._reader.fileno()

    def wake(self) -> None:
        try:
            self._writer.send(b"!")
        except OSError:  # already awake (a byte is waiting), or closed
            pass

    def close(self) -> None:
        self._reader.close()
        self._writer.close()


def exchange(
    message: dns.message.Message, server: tuple[str, int], timeout: float, waker: Waker | None = None
) -> dns.message.Message:
    """Send ``message`` to ``server`` and return its answer, within ``timeout`` seconds.

    A datagram that is not the answer (garbage, another id) is ignored, as a resolver does;
    the answer itself is read with the message's TSIG key, so a bad signature is an error
    (dnspython's, e.g. ``dns.tsig.PeerBadKey``). Raises ``dns.exception.Timeout`` at the
    deadline, ``Interrupted`` if ``waker`` wakes first, ``OSError`` if the server cannot be
    reached.
    """
    deadline = time.monotonic() + timeout
    address, port = server
    wire = message.to_wire()  # signs it, if it has a key: ``message.mac`` is then the request's MAC
    with socket.socket(family(address), socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.connect((address, port))
        sock.send(wire)
        while True:
            _wait(sock, select.POLLIN, deadline, timeout, waker)
            data = sock.recv(65535)
            try:  # first, unverified: is it the answer at all?
                unverified = dns.message.from_wire(data, keyring=False, ignore_trailing=True, raise_on_truncation=True)
            except dns.message.Truncated as exc:
                if message.is_response(exc.message()):
                    return _over_tcp(message, wire, server, deadline, timeout, waker)
                continue
            except dns.exception.DNSException:
                continue  # noise
            if message.is_response(unverified):
                return _read(message, data)


def _over_tcp(
    message: dns.message.Message,
    wire: bytes,
    server: tuple[str, int],
    deadline: float,
    timeout: float,
    waker: Waker | None,
) -> dns.message.Message:
    address, port = server
    with socket.socket(family(address), socket.SOCK_STREAM) as sock:
        sock.setblocking(False)
        error = sock.connect_ex((address, port))
        if error not in (0, errno.EINPROGRESS):
            raise OSError(error, os.strerror(error))
        _wait(sock, select.POLLOUT, deadline, timeout, waker)
        error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            raise OSError(error, os.strerror(error))
        out = memoryview(struct.pack("!H", len(wire)) + wire)
        while out:
            _wait(sock, select.POLLOUT, deadline, timeout, waker)
            out = out[sock.send(out) :]
        (size,) = struct.unpack("!H", _receive(sock, 2, deadline, timeout, waker))
        answer = _read(message, _receive(sock, size, deadline, timeout, waker))
    if not message.is_response(answer):
        raise dns.exception.FormError("the answer over TCP is not an answer to the message sent")
    return answer


def _read(message: dns.message.Message, data: bytes) -> dns.message.Message:
    return dns.message.from_wire(data, keyring=message.keyring, request_mac=message.mac, ignore_trailing=True)


def _receive(sock: socket.socket, size: int, deadline: float, timeout: float, waker: Waker | None) -> bytes:
    data = b""
    while len(data) < size:
        _wait(sock, select.POLLIN, deadline, timeout, waker)
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise dns.exception.FormError("the server closed the TCP connection before it answered")
        data += chunk
    return data


def _wait(sock: socket.socket, events: int, deadline: float, timeout: float, waker: Waker | None) -> None:
    """Until ``sock`` is ready for ``events`` (or in error: the next call on it says which)."""
    poller = select.poll()
    poller.register(sock, events)
    if waker is not None:
        poller.register(waker, select.POLLIN)
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise dns.exception.Timeout(timeout=timeout)
        ready = poller.poll(math.ceil(remaining * 1000))
        if waker is not None and any(fd == waker.fileno() for fd, _ in ready):
            raise Interrupted
        if ready:
            return
