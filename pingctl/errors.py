"""pingctl's exit codes (iputils ping's), the error every expected failure raises, and the
typed failures of talking to a daemon.

The client raises ``ClientError`` subclasses that carry facts (where, what happened); the
CLI turns them into one line with the flag that helps (``pingctl.cli.explain``), so the
client knows nothing of flags and its failures can be tested by type.
"""

from __future__ import annotations

from typing import Final

EXIT_OK: Final = 0  # at least one pong (or the command did what it was asked)
EXIT_NO_REPLY: Final = 1  # pings went out, no pong came back
EXIT_ERROR: Final = 2  # bad arguments, nothing found, unreachable, another protocol


class PingctlError(Exception):
    """An expected failure: one line for the user, and the exit code to leave with."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Interrupted(Exception):
    """The request was cut short because its session was stopped (Ctrl-C, or another thread
    ended the client's ZeroMQ context); the client's ``in_flight`` says whether it had gone out."""


class ClientError(Exception):
    """Talking to the daemon at ``where`` (``host:port``) failed."""

    def __init__(self, where: str) -> None:
        super().__init__(where)
        self.where = where


class Unresolvable(ClientError):
    """A host name the resolver does not know; ``reason`` is its word."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(where)
        self.reason = reason


class Unreachable(ClientError):
    """No TCP connection: ``reason`` is the operating system's (connection refused, …)."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(where)
        self.reason = reason


class HandshakeFailed(ClientError):
    """TCP connected but the ZeroMQ handshake failed; ``encrypted`` if a server key was given."""

    def __init__(self, where: str, encrypted: bool) -> None:
        super().__init__(where)
        self.encrypted = encrypted


class KeyRefused(ClientError):
    """An encrypted pingd with an allow-list refused this client's key."""


class NotPingd(ClientError):
    """Something answered, but not with a pingd reply."""


class NoAnswer(ClientError):
    """No reply within ``timeout`` seconds; ``connected`` tells whether TCP got through."""

    def __init__(self, where: str, timeout: float, connected: bool) -> None:
        super().__init__(where)
        self.timeout = timeout
        self.connected = connected


class WrongVersion(ClientError):
    """The daemon speaks protocol ``version``, not this pingctl's."""

    def __init__(self, where: str, version: int) -> None:
        super().__init__(where)
        self.version = version


class Refused(ClientError):
    """The daemon answered a request with an ERROR (``text`` says which and why)."""

    def __init__(self, where: str, text: str) -> None:
        super().__init__(where)
        self.text = text
