"""CURVE encryption and the client allow-list (a ZAP handler), the zguide's Stonehouse and
Ironhouse levels. Plain stays the default: these engage only with --curve / --allow-clients."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from pathlib import Path

import zmq

from pingd import keys

log = logging.getLogger("pingd")

#: One log line per refused key per this many seconds; at most this many keys remembered.
REFUSAL_LOG_INTERVAL = 60.0
REFUSAL_MEMORY = 1024


class ClientAllowList:
    """The credentials provider for pyzmq's ZAP handler: a client key is allowed when a file in
    the allow-list directory holds it. Refusals are logged with the key, rate-limited."""

    def __init__(self, directory: Path, clock=time.monotonic) -> None:
        self.directory = directory
        self._clock = clock
        self._allowed: frozenset[str] = frozenset()
        self._last_logged: OrderedDict[str, float] = OrderedDict()
        self.reload()

    def reload(self) -> int:
        allowed, problems = keys.read_allowed(self.directory)
        for problem in problems:
            log.warning("allow-list: %s", problem)
        self._allowed = frozenset(allowed)  # swapped whole: the ZAP thread reads it lock-free
        log.info("allow-list %s: %d client keys", self.directory, len(allowed))
        return len(allowed)

    def callback(self, domain: str, key: bytes) -> bool:
        text = key.decode("ascii", "replace")
        if text in self._allowed:
            return True
        now = self._clock()
        last = self._last_logged.get(text)
        if last is None or now - last >= REFUSAL_LOG_INTERVAL:
            log.warning("refused a client whose key is not on the allow-list: %s", text)
            self._last_logged[text] = now
            self._last_logged.move_to_end(text)
            while len(self._last_logged) > REFUSAL_MEMORY:
                self._last_logged.popitem(last=False)
        return False


def apply_server_keys(sock: zmq.Socket, pair: keys.KeyPair) -> None:
    sock.curve_server = True
    sock.curve_secretkey = pair.secret.encode()
    sock.curve_publickey = pair.public.encode()


def start_authenticator(context: zmq.Context, allow_list: ClientAllowList):
    """Start the ZAP handler on ``context`` (before the socket binds, so no client slips by)."""
    from zmq.auth.thread import ThreadAuthenticator

    auth = ThreadAuthenticator(context, log=logging.getLogger("pingd.zap"))
    auth.start()
    auth.configure_curve_callback(domain="*", credentials_provider=allow_list)
    return auth
