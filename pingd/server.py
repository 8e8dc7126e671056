"""The daemon: a ROUTER socket in front of the counter actor, and the lifecycle around it.

One thread owns the socket, the actor and the store, so the actor sees one message at a
time without locks. Each turn of the loop takes a request (with ``--sync always``, every
waiting request up to ``MAX_BATCH``), persists the count (one pwrite; with ``--sync always``
one fdatasync for the whole batch: group commit), and only then sends the replies.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

import zmq

from pingd import __version__, descriptors, keys, netinfo, protocol, security
from pingd.config import Config
from pingd.counter import CounterActor, Identity
from pingd.keys import KeyPair
from pingd.memory import MemoryTrimmer
from pingd.protocol import ErrorCode, ErrorReply, Pong, ProtocolError, Reply
from pingd.store import StateStore
from pingd.systemd import Notifier

log = logging.getLogger("pingd")

MAX_BATCH = 256
#: The longest the loop blocks in recv: deadlines (sync, status, watchdog) are this precise.
TICK_MS = 100
#: In periodic mode, a recorded count reaches the disk this long after it was written at most.
SYNC_DELAY = 0.5
STATUS_INTERVAL = 1.0
#: How often to retry persisting while storage is failing and no request forces it.
STORAGE_RETRY = 1.0


# Plain ints: pyzmq's enum flags cost an enum operation per call on the hot path.
_NOBLOCK = int(zmq.NOBLOCK)
_MORE = int(zmq.SNDMORE | zmq.NOBLOCK)
_POLLIN = int(zmq.POLLIN)
_EVENTS = int(zmq.EVENTS)


class StartupError(Exception):
    """pingd cannot start; ``exit_code`` is what the process should exit with."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Announcer(Protocol):
    def start(self) -> None: ...
    def describe(self) -> str: ...
    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Listening:
    """Where the socket listens: the bound endpoint and the addresses clients can use."""

    bound: str
    port: int
    addresses: tuple[str, ...]
    passed: bool = False  # the socket came from systemd (socket activation)

    @property
    def endpoints(self) -> list[str]:
        return [netinfo.endpoint(a, self.port) for a in self.addresses]


def open_socket(
    context: zmq.Context, config: Config, passed_fds: list[int], curve: KeyPair | None = None
) -> tuple[zmq.Socket, Listening]:
    """Create and bind the ROUTER socket (or adopt a socket passed by systemd)."""
    sock = context.socket(zmq.ROUTER)
    sock.linger = 0
    if curve is not None:
        security.apply_server_keys(sock, curve)
    # libzmq drops a peer that sends more. The limit also applies to the CURVE handshake's
    # commands (INITIATE is a few hundred bytes), so encrypted sockets get more room; the
    # protocol's own 256-byte request limit still answers those with an error.
    sock.maxmsgsize = protocol.MAX_REQUEST_SIZE if curve is None else 2048
    sock.rcvhwm = sock.sndhwm = 10_000
    sock.router_mandatory = False  # a reply to a vanished peer is dropped, not an error
    # Find and drop peers that vanished without closing (cable pulled, host crashed).
    sock.heartbeat_ivl = 10_000
    sock.heartbeat_timeout = 30_000
    sock.tcp_keepalive = 1
    # Connections that never finish the handshake are dropped soon, so they cannot hold
    # every descriptor; the backlog queues connections while descriptors are short.
    sock.handshake_ivl = descriptors.HANDSHAKE_MS
    sock.backlog = descriptors.BACKLOG
    wildcard = netinfo.is_wildcard(config.bind)
    sock.ipv6 = wildcard or netinfo.is_ipv6(config.bind)
    try:
        if passed_fds:
            fd = passed_fds[0]
            family, host, port = _describe_fd(fd)
            sock.ipv6 = family == socket.AF_INET6
            sock.setsockopt(zmq.USE_FD, fd)
            sock.bind(netinfo.endpoint(host, port))
            wildcard = netinfo.is_wildcard(host)
        else:
            host = "*" if wildcard else config.bind.strip("[]")
            try:
                sock.bind(netinfo.endpoint(host, config.port))
            except zmq.ZMQError as exc:
                if not (wildcard and exc.errno == errno.EADDRNOTAVAIL):
                    raise
                sock.ipv6 = False  # a host without IPv6: serve IPv4 alone
                sock.bind(netinfo.endpoint(host, config.port))
    except zmq.ZMQError as exc:
        sock.close(0)
        where = f"{config.bind}:{config.port}"
        bind, port = config.origin("bind"), config.origin("port")
        hint = {
            errno.EADDRINUSE: f"another program listens there; stop it or choose another port ({port})",
            errno.EADDRNOTAVAIL: f"this host has no such address; check {bind}",
            errno.EACCES: f"permission denied; use a port above 1023 ({port})",
        }.get(exc.errno, f"check {bind} and {port}")
        raise StartupError(f"cannot listen on {where}: {exc.strerror}; {hint}", 4) from None
    bound = sock.last_endpoint.decode()
    port = int(bound.rsplit(":", 1)[1])
    if wildcard:
        addresses = [a for a in netinfo.interface_addresses() if sock.ipv6 or ":" not in a]
    else:
        addresses = [bound.removeprefix("tcp://").rsplit(":", 1)[0].strip("[]")]
    return sock, Listening(bound=bound, port=port, addresses=tuple(addresses), passed=bool(passed_fds))


def _describe_fd(fd: int) -> tuple[int, str, int]:
    s = socket.socket(fileno=os.dup(fd))
    try:
        if s.type != socket.SOCK_STREAM or s.family not in (socket.AF_INET, socket.AF_INET6):
            raise StartupError(f"passed file descriptor {fd} is not a TCP socket", 2)
        host, port = s.getsockname()[:2]
        return s.family, host or "*", port
    finally:
        s.close()


class Daemon:
    """A running pingd. Build it with ``create_daemon``; ``serve()`` blocks until stopped."""

    def __init__(
        self,
        config: Config,
        store: StateStore,
        context: zmq.Context,
        sock: zmq.Socket,
        listening: Listening,
        *,
        notifier: Notifier | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.store = store
        self.listening = listening
        self.notifier = notifier or Notifier({})
        self.announcer: Announcer | None = None
        self.reload_config: Callable[[], Config] | None = None
        self.authenticator = None  # the ZAP handler's thread, with --allow-clients
        self.allow_list: security.ClientAllowList | None = None
        self._context = context
        self._socket = sock
        self._clock = clock
        self.actor = CounterActor(
            count=store.loaded_count,
            identity=Identity(
                node_id=store.node_id,
                name=config.instance_name,
                version=__version__,
                durability=config.sync,
            ),
            started_at=clock(),
        )
        self._sync_always = config.sync == "always"
        # Wake-ups (stop, reload) arrive on the serving socket itself, over inproc, so the loop
        # blocks in one plain recv, as a bare echo server does, rather than polling two sources.
        self._wake_endpoint = f"inproc://pingd-wake-{id(self):x}"
        # The wake-up peer's routing id; its messages are not requests. Random per daemon, so
        # that no client can choose it (a client that did would have no STATUS replies).
        self._wake_id = b"pingd-wake-" + secrets.token_hex(16).encode()
        sock.bind(self._wake_endpoint)
        self._stop_requested = threading.Event()
        self._reload_requested = False
        self._dirty_since: float | None = None
        self._storage_retry_at: float | None = None
        self._status_at = 0.0
        self._rate_mark = (0.0, 0)
        self._rate = 0.0
        self.ready = threading.Event()
        self.descriptor_watch = descriptors.DescriptorWatch()
        self.memory = MemoryTrimmer()

    # -- control, from signal handlers or other threads ----------------------------------------

    def stop(self) -> None:
        self._stop_requested.set()
        self._wake()

    def request_reload(self) -> None:
        self._reload_requested = True
        self._wake()

    def _wake(self) -> None:
        """Unblock the loop's recv with an empty message from our own wake-up peer."""
        try:
            waker = self._context.socket(zmq.DEALER)
        except zmq.ZMQError:
            return  # the daemon has already shut down
        try:
            waker.routing_id = self._wake_id
            waker.connect(self._wake_endpoint)
            waker.send(b"", zmq.NOBLOCK)
        except zmq.ZMQError:
            pass  # already awake, or closing
        finally:
            waker.close(linger=1000)

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self.stop())
        signal.signal(signal.SIGINT, lambda *_: self.stop())
        signal.signal(signal.SIGHUP, lambda *_: self.request_reload())

    # -- the loop ----------------------------------------------------------------------------

    def serve(self) -> int:
        """Serve until stop() or SIGTERM; persist, say goodbye, and return the exit code."""
        sock = self._socket
        sock.rcvtimeo = TICK_MS
        recv = sock.recv_multipart
        watchdog = self.notifier.watchdog_interval
        next_watchdog = self._clock()
        origin = " (socket passed by systemd)" if self.listening.passed else ""
        for ep in self.listening.endpoints:
            log.info("listening on %s%s", ep, origin)
        self.notifier.ready(self._status_line())
        self.ready.set()
        if self.announcer is not None:
            self.announcer.start()
        try:
            while not self._stop_requested.is_set():
                if watchdog is not None and self._clock() >= next_watchdog:
                    self.notifier.watchdog()  # from the loop itself: a hung loop goes silent
                    next_watchdog = self._clock() + watchdog
                try:
                    first = recv()
                except zmq.Again:  # a quiet tick: only housekeeping to do
                    first = None
                if self._reload_requested:
                    self._reload()
                if first is not None:
                    self._serve_batch(first)
                self._housekeeping()
        finally:
            self._shutdown()
        return 0

    def _serve_batch(self, frames: list[bytes]) -> None:
        """Answer ``frames`` and whatever else is already waiting (up to MAX_BATCH).

        Well-formed PINGs take a short path (the actor counts, the PONG is built from the
        PING's own sequence bytes); everything else is decoded and handled in full.
        """
        sock = self._socket
        actor = self.actor
        recv, events, drain = sock.recv_multipart, sock.getsockopt, self._sync_always
        is_ping, wake_id = protocol.is_ping, self._wake_id
        pongs: list[tuple[bytes, bytes, int]] = []  # (peer, ping frame, count)
        others: list[tuple[bytes, bool, Reply]] = []  # (peer, REQ envelope, reply)
        while True:
            if len(frames) == 2 and is_ping(frames[1]) and (count := actor.ping()) is not None:
                pongs.append((frames[0], frames[1], count))
            elif frames[0] != wake_id:
                others.append((frames[0], *self._answer(frames)))
            # With --sync always, drain what is already waiting so one fdatasync serves it all
            # (group commit). Otherwise one message per turn: a pwrite (~1 µs) costs less than
            # asking the socket whether more is waiting (a getsockopt, ~1.5 µs in pyzmq).
            if not drain or len(pongs) + len(others) >= MAX_BATCH or not events(_EVENTS) & _POLLIN:
                break
            frames = recv(_NOBLOCK)
        if actor.dirty and not self._persist():
            text = f"not counted: {actor.storage_error}"
            others += [
                (peer, False, ErrorReply(protocol.sequence_of(ping), ErrorCode.STORAGE_FAILED, text))
                for peer, ping, _ in pongs
            ]
            others = [
                (peer, envelope, ErrorReply(r.seq, ErrorCode.STORAGE_FAILED, text) if isinstance(r, Pong) else r)
                for peer, envelope, r in others
            ]
            pongs = []
        send, pong_for = sock.send, protocol.pong_for
        try:
            for peer, ping, count in pongs:
                send(peer, _MORE)
                send(pong_for(ping, count), _NOBLOCK)
            for peer, envelope, reply in others:
                send(peer, _MORE)
                if envelope:
                    send(b"", _MORE)
                send(protocol.encode_reply(reply), _NOBLOCK)
        except zmq.Again:
            pass  # unreachable with ROUTER (it drops instead); a full peer queue loses its reply

    def _answer(self, frames: list[bytes]) -> tuple[bool, Reply]:
        """The reply to anything but a plain PING (STATUS, errors, a PING the actor refuses),
        and whether it goes back in a REQ envelope: a request that came after an empty
        delimiter frame (as a REQ socket sends it) is answered after one too."""
        envelope = len(frames) > 2 and frames[1] == b""
        message = frames[2:] if envelope else frames[1:]
        if len(message) != 1:
            seq = protocol.sequence_of(message[0]) if message else 0
            return envelope, ErrorReply(seq, ErrorCode.MALFORMED, "a request is exactly one frame")
        try:
            return envelope, self.actor.handle(protocol.decode_request(message[0]), self._clock())
        except ProtocolError as exc:
            return envelope, ErrorReply(exc.seq, exc.code, exc.text)

    def _persist(self) -> bool:
        """Hand the actor's count to the OS (and the disk, if asked); False if that failed."""
        actor = self.actor
        try:
            self.store.record(actor.count)
            if self._sync_always or actor.storage_error is not None:
                self.store.sync()
        except OSError as exc:
            actor.rollback()
            self._storage_failed(exc)
            return False
        actor.commit()
        if self._dirty_since is None and self.store.needs_sync:
            self._dirty_since = self._clock()
        if actor.storage_error is not None:
            self._storage_recovered()
        return True

    def _storage_failed(self, exc: OSError) -> None:
        # What clients see (error replies, STATUS) names no path; the log has the detail.
        reason = f"cannot write the state file: {exc.strerror or exc}"
        if self.actor.storage_error != reason:
            log.error("cannot write %s: %s; refusing pings until it works again", self.store.path, exc.strerror or exc)
            self.actor.storage_error = reason
            self.notifier.status(self._status_line())
        self._storage_retry_at = self._clock() + STORAGE_RETRY

    def _storage_recovered(self) -> None:
        log.warning("state file writable again; counting resumes at %d", self.actor.committed)
        self.actor.storage_error = None
        self._storage_retry_at = None
        self._dirty_since = None
        self.notifier.status(self._status_line())

    def _housekeeping(self) -> None:
        now = self._clock()
        if self._dirty_since is not None and now >= self._dirty_since + SYNC_DELAY:
            self._sync_now()
        if self._storage_retry_at is not None and now >= self._storage_retry_at:
            self._retry_storage()
        if now >= self._status_at + STATUS_INTERVAL:
            self.descriptor_watch.check(now)
            self.memory.check(now)
            self._update_status(now)

    def _sync_now(self) -> None:
        try:
            self.store.sync()
        except OSError as exc:
            self._storage_failed(exc)
        else:
            self._dirty_since = None

    def _retry_storage(self) -> None:
        try:
            self.store.record(self.actor.committed)
            self.store.sync()
        except OSError as exc:
            self._storage_failed(exc)
        else:
            self._storage_recovered()

    def _update_status(self, now: float) -> None:
        then, served = self._rate_mark
        if now > then:
            self._rate = (self.actor.served - served) / (now - then)
        self._rate_mark = (now, self.actor.served)
        self._status_at = now
        self.notifier.status(self._status_line())

    def _status_line(self) -> str:
        if self.actor.storage_error:
            return f"NOT COUNTING: {self.actor.storage_error}"
        where = self.listening.bound
        line = f"serving {where}, count {self.actor.committed}, {self._rate:.0f} pings/s"
        if self.announcer is not None:
            line += f", {self.announcer.describe()}"
        return line

    def _reload(self) -> None:
        self._reload_requested = False
        if self.allow_list is not None:
            try:
                self.allow_list.reload()
            except Exception as exc:  # keep the keys we have
                log.error("allow-list reload failed, keeping the current keys: %s", exc)
        if self.reload_config is None:
            return
        self.notifier.reloading()
        try:
            new = self.reload_config()
        except Exception as exc:  # a bad file must not stop a running daemon
            log.error("reload failed, keeping the current settings: %s", exc)
        else:
            self._apply_reload(new)
        self.notifier.reloaded()

    def _apply_reload(self, new: Config) -> None:
        from pingd import logs

        old = self.config
        changed = []
        if new.log_level != old.log_level:
            logs.set_level(new.log_level)
            changed.append(f"log_level {old.log_level} -> {new.log_level}")
        for key in ("bind", "port", "state_file", "sync", "name", "mdns", "mdns_interfaces", "curve", "allow_clients"):
            if getattr(new, key) != getattr(old, key):
                log.warning("reload: %s changed; restart pingd to apply it", key)
        self.config = replace(old, log_level=new.log_level)  # the rest needs a restart
        log.info("reloaded configuration: %s", ", ".join(changed) or "nothing changed live")

    def _shutdown(self) -> None:
        self.notifier.stopping(f"stopping, count {self.actor.committed}")
        self._socket.close(linger=0)
        try:
            self.store.close()
        except OSError as exc:
            log.error("final sync of %s failed: %s", self.store.path, exc.strerror)
        if self.announcer is not None:
            self.announcer.close()
        if self.authenticator is not None:
            self.authenticator.stop()
        self._context.term()
        log.info("stopped, count %d", self.actor.committed)


def create_daemon(config: Config, state_path: os.PathLike[str] | str, *, environ=None) -> Daemon:
    """Open the state file, bind the socket, and return a Daemon ready to serve."""
    from pathlib import Path

    from pingd import systemd
    from pingd.store import StateFileError

    soft, hard = descriptors.raise_soft_limit()
    log.debug("file descriptor limit %d (hard %d)", soft, hard)
    try:
        store = StateStore.open(Path(state_path))
    except StateFileError as exc:
        raise StartupError(str(exc), 3) from None
    context = zmq.Context()
    authenticator = allow_list = pair = None
    try:
        if config.curve:
            pair = keys.load_or_create(Path(state_path).parent, "pingd-curve")
        if config.allow_clients is not None:
            try:
                allow_list = security.ClientAllowList(config.allow_clients)
            except keys.KeyFileError as exc:
                raise keys.KeyFileError(f"{exc} (from {config.origin('allow_clients')})") from None
            authenticator = security.start_authenticator(context, allow_list)
        sock, listening = open_socket(context, config, systemd.listen_fds(environ), pair)
    except keys.KeyFileError as exc:
        _abandon(store, context, authenticator)
        raise StartupError(str(exc), 3) from None
    except BaseException:
        _abandon(store, context, authenticator)
        raise
    daemon = Daemon(config, store, context, sock, listening, notifier=Notifier(environ))
    daemon.authenticator, daemon.allow_list = authenticator, allow_list
    if pair is not None:
        daemon.actor.identity.security = "curve+allow-list" if allow_list else "curve"
        daemon.actor.identity.public_key = pair.public
    return daemon


def _abandon(store: StateStore, context: zmq.Context, authenticator) -> None:
    if authenticator is not None:
        authenticator.stop()
    store.close()
    context.term()
