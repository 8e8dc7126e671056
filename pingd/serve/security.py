"""CURVE encryption and the client allow-list (a ZAP handler), the zguide's Stonehouse and
Ironhouse levels. Plain stays the default: these engage only with --curve / --allow-clients."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import zmq

from pingd.shared import keys

if TYPE_CHECKING:  # imported for real only with --allow-clients
    from zmq.auth.thread import ThreadAuthenticator

    from pingd.settings import Config

log = logging.getLogger("pingd")

#: One log line per refused key per this many seconds; at most this many keys remembered.
REFUSAL_LOG_INTERVAL = 60.0
REFUSAL_MEMORY = 1024
#: At most this many refusal lines per interval in all: a client that makes a fresh key for
#: every attempt gets a count, not a line each.
REFUSAL_LINES = 5


class ClientAllowList:
    """The credentials provider for pyzmq's ZAP handler: a client key is allowed when a file in
    the allow-list directory holds it. Refusals are logged with the key, rate-limited."""

    def __init__(self, directory: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.directory = directory
        self._clock = clock
        self._allowed: frozenset[str] = frozenset()
        self._last_logged: OrderedDict[str, float] = OrderedDict()
        self._window_start = clock()
        self._window_lines = 0
        self._suppressed = 0
        self.reload()

    def reload(self) -> int:
        allowed, problems = keys.read_allowed(self.directory)
        for problem in problems:
            log.warning("allow-list: %s", problem)
        self._allowed = frozenset(allowed)  # swapped whole: the ZAP thread reads it lock-free
        log.info("allow-list %s: %d client keys", self.directory, len(allowed))
        return len(allowed)

    def callback(self, domain: str, key: bytes) -> bool:
        """Whether the client with ``key`` may connect. Runs on the ZAP handler's thread: an
        exception there would end the thread and stall every encrypted handshake after it,
        so any failure is one log line and a refusal, and the next client is decided anew."""
        try:
            return self._decide(key)
        except Exception as exc:
            log.error("allow-list: refused a client after an unexpected error: %s: %s", type(exc).__name__, exc)
            return False

    def _decide(self, key: bytes) -> bool:
        text = key.decode("ascii", "replace")
        if text in self._allowed:
            return True
        now = self._clock()
        if now - self._window_start >= REFUSAL_LOG_INTERVAL:
            if self._suppressed:
                log.warning(
                    "refused %d more clients whose keys are not on the allow-list in the last %g s",
                    self._suppressed,
                    REFUSAL_LOG_INTERVAL,
                )
            self._window_start, self._window_lines, self._suppressed = now, 0, 0
        last = self._last_logged.get(text)
        if last is not None and now - last < REFUSAL_LOG_INTERVAL:
            return False
        if self._window_lines >= REFUSAL_LINES:
            self._suppressed += 1
            return False
        log.warning("refused a client whose key is not on the allow-list: %s", text)
        self._window_lines += 1
        self._last_logged[text] = now
        self._last_logged.move_to_end(text)
        while len(self._last_logged) > REFUSAL_MEMORY:
            self._last_logged.popitem(last=False)
        return False


def apply_server_keys(sock: zmq.Socket, pair: keys.KeyPair) -> None:
    sock.curve_server = True
    sock.curve_secretkey = pair.secret.encode()
    sock.curve_publickey = pair.public.encode()


def start_authenticator(context: zmq.Context, allow_list: ClientAllowList) -> ThreadAuthenticator:
    """Start the ZAP handler on ``context`` (before the socket binds, so no client slips by)."""
    from zmq.auth.thread import ThreadAuthenticator as Authenticator

    auth = Authenticator(context, log=logging.getLogger("pingd.zap"))
    auth.start()
    auth.configure_curve_callback(domain="*", credentials_provider=allow_list)
    return auth


def allow_list_for(config: Config) -> ClientAllowList | None:
    """The clients --allow-clients admits, if it is given; a key that cannot be read names
    the setting it came from."""
    if config.allow_clients is None:
        return None
    try:
        return ClientAllowList(config.allow_clients)
    except keys.KeyFileError as exc:
        raise keys.KeyFileError(f"{exc} (from {config.origin('allow_clients')})") from None
