"""Below the ZeroMQ library: ZMTP spoken by hand, and the kernel's view of a connection.

docs/protocol.md promises that a client from another ZeroMQ stack works, and says what
happens on the wire (heartbeats, a dropped connection, a request that already left). The
conformance suite shows those rather than assume them, with:

- ``RawPeer``: the smallest ZeroMQ stack, written from the ZMTP specifications (ZMTP 3.0,
  rfc.zeromq.org 23, and ZMTP 2.0, rfc 15): the NULL mechanism only, one DEALER, frames in and
  out, and the PING command ZMTP 3.1 adds answered (or, when asked, ignored);
- ``unread_bytes``: what the kernel holds for a local listener, received and not yet read.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from pingd.shared import protocol

_SIGNATURE = b"\xff" + bytes(8) + b"\x7f"
_DEALER = 5  # ZMTP 2.0's number for a DEALER socket
_MORE, _LONG, _COMMAND = 0x01, 0x02, 0x04


def message(*frames: bytes) -> bytes:
    """The bytes of one message (ZMTP 3 and 2 frame a message alike): each frame's flags
    (MORE on all but the last, LONG over 255 bytes), its size, its body."""
    out = b""
    for i, frame in enumerate(frames):
        more = _MORE if i < len(frames) - 1 else 0
        if len(frame) > 255:
            out += bytes((more | _LONG,)) + len(frame).to_bytes(8, "big") + frame
        else:
            out += bytes((more, len(frame))) + frame
    return out


@dataclass
class RawPeer:
    """A connection to 127.0.0.1:``port`` speaking ZMTP ``version`` (3 or 2) as a DEALER.
    ``answer_pings``: reply to each PING command with a PONG, as libzmq does by itself."""

    port: int
    version: int = 3
    answer_pings: bool = True
    timeout: float = 5.0
    commands: list[bytes] = field(default_factory=list)  # the names of the commands received
    _sock: socket.socket | None = None
    _deadline: float = 0.0
    _buffer: bytes = b""  # received, not yet taken as a frame

    def __enter__(self) -> RawPeer:
        self._sock = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
        self._deadline = time.monotonic() + self.timeout
        if self.version == 3:
            self._handshake_3()
        else:
            self._handshake_2()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._sock is not None:
            self._sock.close()

    def _handshake_3(self) -> None:
        # The greeting: signature, version 3.0, mechanism NULL, as-server 0, filler; then READY.
        self.write(_SIGNATURE + bytes((3, 0)) + b"NULL".ljust(20, b"\0") + b"\0" + bytes(31))
        greeting = self._read(64)
        if greeting[10] < 3 or greeting[12:32].rstrip(b"\0") != b"NULL":
            raise ConnectionError(f"not a ZMTP 3 greeting with the NULL mechanism: {greeting!r}")
        ready = b"\x05READY" + b"\x0bSocket-Type" + (6).to_bytes(4, "big") + b"DEALER"
        self.write(bytes((_COMMAND, len(ready))) + ready)
        flags, body = self._read_frame()
        if not flags & _COMMAND or not body.startswith(b"\x05READY"):
            raise ConnectionError(f"expected READY, got {body!r}")

    def _handshake_2(self) -> None:
        # The greeting: signature, revision 1 (ZMTP 2.0), socket type; then an empty identity.
        self.write(_SIGNATURE + bytes((1, _DEALER)) + message(b""))
        self._read(12)  # the other side's signature, revision and socket type
        self._read_frame()  # and its identity

    # -- messages --------------------------------------------------------------------------------

    def send(self, *frames: bytes) -> None:
        self.write(message(*frames))

    def write(self, data: bytes) -> None:
        """Bytes as they are, in one write: several messages can leave together."""
        assert self._sock is not None
        self._sock.sendall(data)

    def recv(self, timeout: float | None = None) -> list[bytes]:
        """The next message; the commands before it are noted (and PINGs answered). TimeoutError
        after ``timeout`` seconds in all, ConnectionError if the other side closes."""
        self._deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        frames: list[bytes] = []
        while True:
            flags, body = self._read_frame()
            if flags & _COMMAND:
                self._on_command(body)
            else:
                frames.append(body)
                if not flags & _MORE:
                    return frames

    def wait_closed(self, timeout: float) -> bool:
        """Whether the other side closes the connection within ``timeout`` seconds; messages
        that arrive meanwhile are dropped, commands noted."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self.recv(timeout=deadline - time.monotonic())
        except TimeoutError:
            return False
        except ConnectionError:
            return True

    # -- ZMTP framing ----------------------------------------------------------------------------

    def _on_command(self, body: bytes) -> None:
        name = body[1 : 1 + body[0]]
        self.commands.append(name)
        if name == b"PING" and self.answer_pings:  # ZMTP 3.1: a TTL (2 bytes), then a context
            pong = b"\x04PONG" + body[1 + body[0] + 2 :]
            self.write(bytes((_COMMAND, len(pong))) + pong)

    def _read_frame(self) -> tuple[int, bytes]:
        """One whole frame, or nothing: a timeout midway leaves what came in the buffer."""
        self._fill(1)
        flags = self._buffer[0]
        header = 9 if flags & _LONG else 2
        self._fill(header)
        size = int.from_bytes(self._buffer[1:header], "big")
        return flags, self._read(header + size)[header:]

    def _read(self, size: int) -> bytes:
        self._fill(size)
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def _fill(self, size: int) -> None:
        """Receive until the buffer holds ``size`` bytes, by the deadline."""
        assert self._sock is not None
        while len(self._buffer) < size:
            left = self._deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{len(self._buffer)} of {size} bytes by the deadline")
            self._sock.settimeout(left)
            try:
                chunk = self._sock.recv(65536)
            except TimeoutError:
                continue  # the deadline decides, above
            if not chunk:
                raise ConnectionError(f"connection closed after {len(self._buffer)} of {size} bytes")
            self._buffer += chunk


def unread_bytes(port: int) -> int:
    """Bytes the kernel has received on connections accepted by 127.0.0.1:``port`` and the
    listener has not read yet (the rx_queue of /proc/net/tcp)."""
    local = f"0100007F:{port:04X}"
    total = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[3] == "01":  # ESTABLISHED
            total += int(fields[4].split(":")[1], 16)
    return total


@dataclass
class HeartbeatTrial:
    """Two ZMTP 3 peers on a daemon of their own: one that ignores PING commands and one that
    answers them. Started with the module, so that the ~40 s the daemon's timers take pass
    while the other tests run; ``outcome`` waits for what the peers saw."""

    port: int
    silent_dropped: bool = False
    silent_commands: list[bytes] | None = None
    kept: list[tuple[list[bytes], protocol.Reply]] | None = None
    error: BaseException | None = None

    def start(self) -> None:
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        dropped = threading.Event()
        kept: list[tuple[list[bytes], protocol.Reply]] = []

        def answering() -> None:
            with RawPeer(self.port) as peer:
                while not dropped.wait(0):
                    with contextlib.suppress(TimeoutError):
                        peer.recv(timeout=0.5)  # no message comes: PINGs only, each answered with a PONG
                peer.send(protocol.encode_ping(2))
                kept.append((peer.commands, protocol.decode_reply(peer.recv()[0])))

        thread = threading.Thread(target=answering)
        thread.start()
        try:
            with RawPeer(self.port, answer_pings=False) as silent:
                silent.send(protocol.encode_ping(1))
                silent.recv()
                self.silent_dropped = silent.wait_closed(60)
                self.silent_commands = list(silent.commands)
        except BaseException as exc:
            self.error = exc
        finally:
            dropped.set()
            thread.join(30)
            self.kept = kept
            self._done.set()

    def outcome(self, timeout: float) -> HeartbeatTrial:
        assert self._done.wait(timeout), "the heartbeat trial did not end"
        if self.error is not None:
            raise self.error
        return self
