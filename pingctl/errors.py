"""pingctl's exit codes (iputils ping's), the error every expected failure raises, and the
typed failures of talking to a daemon.

The client raises ``ClientError`` subclasses that carry facts (where, what happened);
``explain`` turns each into one line with the flag that helps, so the client knows nothing of
flags and its failures can be tested by type.
"""

from __future__ import annotations

from typing import Final

from pingd.shared.protocol import VERSION as PROTOCOL_VERSION

EXIT_OK: Final = 0  # at least one pong (or the command did what it was asked)
EXIT_NO_REPLY: Final = 1  # pings went out, no pong came back (a daemon that connects and never answers too)
EXIT_ERROR: Final = 2  # bad arguments, nothing found, nothing reachable, not pingd, another protocol


class PingctlError(Exception):
    """An expected failure: one line for the user, and the exit code to leave with."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class NoReply(PingctlError):
    """Every daemon asked took the connection and sent nothing back in time. ``pingctl ping``
    ends with EXIT_NO_REPLY on it, as iputils ping does when no reply comes."""


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


class TooOld(ClientError):
    """The daemon answered ``request`` as an unknown request (ERROR 3): a pingd older than it."""

    def __init__(self, where: str, request: str) -> None:
        super().__init__(where)
        self.request = request


class PinRefused(ClientError):
    """Not contacted: the daemon offers a key other than the one pinned in known_hosts.
    ``reason`` is short, for a table's row; ``warning`` the whole alarm, for a lone daemon."""

    def __init__(self, where: str, reason: str, warning: str) -> None:
        super().__init__(where)
        self.reason = reason
        self.warning = warning


class LocalLimit(ClientError):
    """Not asked: this host ran out of something (descriptors, sockets); ``reason`` says what."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(where)
        self.reason = reason


def no_reply(error: ClientError | None) -> bool:
    """Whether ``error`` is a daemon that took the connection and sent nothing back in time."""
    return isinstance(error, NoAnswer) and error.connected


def explain(error: ClientError) -> str:
    """One line for a failure to talk to a daemon: what happened, and the flag that helps."""
    where = error.where
    if isinstance(error, Unresolvable):
        return f"cannot resolve '{where}': {error.reason}; check --server-ip"
    if isinstance(error, Unreachable):
        return f"cannot reach pingd at {where}: {error.reason}; is pingd running there (systemctl status pingd)?"
    if isinstance(error, KeyRefused):
        return (
            f"the pingd at {where} refused this client's key: ask its operator to add it to the "
            "daemon's --allow-clients (pingctl keys show)"
        )
    if isinstance(error, HandshakeFailed):
        if error.encrypted:
            return (
                f"the encrypted handshake with {where} failed: its key is not the --server-key given, "
                "or it is not an encrypted pingd"
            )
        return (
            f"the ZeroMQ handshake with {where} failed: it does not speak ZeroMQ (is that port really a "
            "pingd?), or it is a pingd that requires encryption (give --server-key)"
        )
    if isinstance(error, NotPingd):
        return f"{where} answered, but not as a pingd; is that port really a pingd?"
    if isinstance(error, WrongVersion):
        return (
            f"the daemon at {where} speaks pingd protocol {error.version}, this pingctl speaks "
            f"{PROTOCOL_VERSION}; install matching versions"
        )
    if isinstance(error, Refused):
        return f"{where} refused the request: {error.text}"
    if isinstance(error, TooOld):
        return f"the pingd at {where} is older than {error.request} requests; upgrade it to see them"
    if isinstance(error, PinRefused):
        return error.reason
    if isinstance(error, LocalLimit):
        return f"not asked: {error.reason} on this host; raise ulimit -n, or ask fewer daemons at once"
    if isinstance(error, NoAnswer):
        what = "connected, but got no pingd reply" if error.connected else "no connection"
        return (
            f"no answer from pingd at {where} within {error.timeout:g} s ({what}); "
            "check the address and port, or raise --timeout"
        )
    return f"talking to pingd at {where} failed"
