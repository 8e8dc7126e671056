"""The D-Bus system bus, as the Avahi announcer needs it: method calls that wait for their
reply, signals kept in arrival order until asked for, and a wake-up from another thread.

One thread owns a ``SystemBus``: it calls and reads; the only thing another thread may do is
``interrupt`` it (the daemon stopping). The connection is jeepney's — pure Python, blocking,
no thread or event loop of its own — so an idle daemon sleeps in one ``select`` until Avahi
or the bus says something.
"""

from __future__ import annotations

import os
import time
from collections import deque
from typing import Any

from jeepney import AuthenticationError, DBusAddress, HeaderFields, MatchRule, Message, MessageType, new_method_call
from jeepney.bus import get_bus
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import prep_socket
from jeepney.io.threading import DBusConnection, ReceiveStopped

#: Seconds a method call may take: Avahi and the bus answer in milliseconds; more is a hung peer.
CALL_TIMEOUT = 2.0
#: Seconds the bus may take to accept the connection (authentication and Hello).
CONNECT_TIMEOUT = 2.0

__all__ = ["BusError", "Interrupted", "Message", "Refused", "SystemBus", "body_of", "sender_of"]


class BusError(Exception):
    """A method call answered with a D-Bus error: ``name`` is its error name."""

    def __init__(self, name: str, text: str) -> None:
        super().__init__(f"{text} ({name})" if text else name)
        self.name = name


class Refused(Exception):
    """The system bus is there and would not have pingd."""


class Interrupted(Exception):
    """Another thread asked the bus's owner to stop (``SystemBus.interrupt``)."""


class SystemBus:
    """A connection to the system bus (``$DBUS_SYSTEM_BUS_ADDRESS`` or the usual socket)."""

    def __init__(self, connection: DBusConnection) -> None:
        self._connection = connection
        self._signals: deque[Message] = deque()
        self.unique_name = ""

    @classmethod
    def open(cls, timeout: float = CONNECT_TIMEOUT) -> SystemBus:
        """Connect and say Hello, on the calling thread (jeepney's own opener runs a receiver
        thread for the Hello, whose traceback a refused connection would print). Refused: the
        bus turned pingd away; OSError: no bus to reach."""
        try:
            address = get_bus("SYSTEM")
        except (ValueError, KeyError) as exc:  # not an address jeepney can use
            raise OSError(f"DBUS_SYSTEM_BUS_ADDRESS is not a unix: address it can use ({exc})") from None
        try:
            sock = prep_socket(address, timeout=timeout)
        except AuthenticationError as exc:
            raise Refused(f"the system bus refused pingd's credentials ({exc.msg})") from None
        except (ConnectionResetError, BrokenPipeError) as exc:  # connected, then turned away
            raise Refused(f"the system bus closed pingd's connection ({_reason(exc)})") from None
        bus = cls(DBusConnection(sock))
        try:
            bus.unique_name = str(bus.call(message_bus, "Hello", timeout=timeout)[0])
        except (OSError, BusError) as exc:
            bus.close()
            # dbus-daemon closes the connection of a user it cannot look up (a DynamicUser=
            # service: systemd's dbus-daemon does not resolve dynamic users).
            raise Refused(f"the system bus closed pingd's connection ({_reason(exc)})") from None
        return bus

    def call(
        self,
        address: DBusAddress,
        method: str,
        signature: str | None = None,
        body: tuple = (),
        timeout: float = CALL_TIMEOUT,
    ) -> tuple:
        """Call ``method`` and return its reply's body; BusError for an error reply,
        TimeoutError after ``timeout`` s, Interrupted if another thread stops us meanwhile.
        Signals that arrive while waiting are kept for ``next_signal``, in order."""
        message = new_method_call(address, method, signature, body)
        serial = next(self._connection.outgoing_serial)
        self._connection.send(message, serial=serial)
        deadline = time.monotonic() + timeout
        while True:
            reply = self._receive(max(0.0, deadline - time.monotonic()))
            if reply is None:
                raise TimeoutError(f"{address.bus_name or 'the bus'} did not answer {method} in {timeout:g} s")
            if reply.header.fields.get(HeaderFields.reply_serial) == serial:
                if reply.header.message_type == MessageType.error:
                    text = reply.body[0] if reply.body and isinstance(reply.body[0], str) else ""
                    raise BusError(str(reply.header.fields.get(HeaderFields.error_name, "")), text)
                return tuple(reply.body)
            if reply.header.message_type == MessageType.signal:
                self._signals.append(reply)

    def subscribe(self, rule: MatchRule) -> None:
        """Ask the bus to send us the signals ``rule`` matches."""
        self.call(message_bus, "AddMatch", "s", (rule.serialise(),))

    def has_owner(self, name: str, timeout: float = CALL_TIMEOUT) -> bool:
        return bool(self.call(message_bus, "NameHasOwner", "s", (name,), timeout=timeout)[0])

    def owner_of(self, name: str) -> str | None:
        """The unique name that owns ``name`` now, or None."""
        try:
            return str(self.call(message_bus, "GetNameOwner", "s", (name,))[0])
        except BusError as exc:
            if exc.name == "org.freedesktop.DBus.Error.NameHasNoOwner":
                return None
            raise

    def next_signal(self, timeout: float | None) -> Message | None:
        """The next signal (kept or new), waiting up to ``timeout`` seconds (None: until one
        comes); None if none came. Replies to no call of ours are dropped."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._signals:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            message = self._receive(remaining)
            if message is None:
                return None
            if message.header.message_type == MessageType.signal:
                self._signals.append(message)
        return self._signals.popleft()

    def _receive(self, timeout: float | None) -> Message | None:
        try:
            return self._connection.receive(timeout=timeout)
        except TimeoutError:
            return None
        except ReceiveStopped:
            raise Interrupted from None

    def interrupt(self) -> None:
        """From another thread: make the owner's wait (or call) raise Interrupted. The caller
        makes sure the bus is not closed meanwhile (a write to a closed pipe's number could
        reach whatever file took it)."""
        self._connection.interrupt()

    def resume(self) -> None:
        """After Interrupted: allow calls again (for the last ones before closing)."""
        self._connection.reset_interrupt()

    def close(self) -> None:
        self._connection.close()
        # jeepney leaves its wake-up pipe open: a daemon that reconnects for days must not leak it.
        for fd in (self._connection._stop_r, self._connection._stop_w):
            try:
                os.close(fd)
            except OSError:
                pass


def body_of(message: Message) -> tuple[Any, ...]:
    return tuple(message.body)


def sender_of(message: Message) -> str | None:
    sender = message.header.fields.get(HeaderFields.sender)
    return str(sender) if sender is not None else None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__
