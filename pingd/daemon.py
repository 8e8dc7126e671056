"""The daemon: a ROUTER socket in front of the counter actor, and the lifecycle around it.

One thread owns the socket, the actor and the store, so the actor sees one message at a
time without locks. Each turn of the loop takes a request (with ``--sync always``, every
waiting request up to ``MAX_BATCH``), lets the actor count (``actor.ping()``, the one PING
path), persists the count (``Persistence.commit``: one pwrite; with ``--sync always`` one
fdatasync for the whole batch, group commit), and only then sends the replies.

Anything that must touch the actor from another thread — a stop, a reload, a rename from
the mDNS library — is queued with ``call_soon`` and run by the loop itself.
"""

from __future__ import annotations

import logging
import queue
import secrets
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Protocol, cast

import zmq

from pingd import __version__
from pingd.config import Config
from pingd.errors import EXIT_SETTINGS, EXIT_STATE, StartupError
from pingd.host.memory import MemoryTrimmer
from pingd.host.systemd import Notifier
from pingd.serve import descriptors, security
from pingd.serve.counter import CounterActor, Identity
from pingd.serve.evictor import IdleEvictor
from pingd.serve.listener import Listening, adopt, open_socket
from pingd.serve.persistence import Persistence
from pingd.serve.store import StateStore
from pingd.shared import keys, protocol
from pingd.shared.protocol import ErrorCode, ErrorReply, Ping, ProtocolError, Reply, StatusReply

log = logging.getLogger("pingd")

__all__ = ["Daemon", "StartupError", "create_daemon"]

MAX_BATCH = 256
#: Settings a SIGHUP cannot change in a running daemon (it says so, and keeps the old value).
RESTART_ONLY = (
    "bind", "port", "state_file", "sync", "name", "mdns", "mdns_interfaces", "curve", "allow_clients",
    "dns_domain", "dns_server", "dns_key",
)  # fmt: skip
#: The longest the loop blocks in recv: deadlines (sync, status, watchdog) are this precise.
TICK_MS = 100
STATUS_INTERVAL = 1.0

# Plain ints: pyzmq's enum flags cost an enum operation per call on the hot path.
_NOBLOCK = int(zmq.NOBLOCK)
_MORE = int(zmq.SNDMORE | zmq.NOBLOCK)
_POLLIN = int(zmq.POLLIN)
_EVENTS = int(zmq.EVENTS)


class Announcer(Protocol):
    def start(self) -> None: ...
    def describe(self) -> str: ...
    def close(self) -> None: ...


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
        notifier: Notifier,
        announcers: Sequence[Callable[[Daemon], Announcer]] = (),
        reload_config: Callable[[], Config] | None = None,
        allow_list: security.ClientAllowList | None = None,
        authenticator=None,  # the ZAP handler's thread, with --allow-clients
        public_key: str | None = None,
        descriptor_watch: descriptors.DescriptorWatch | None = None,
        memory: MemoryTrimmer | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.store = store
        self.listening = listening
        self.notifier = notifier
        self.reload_config = reload_config
        self.allow_list = allow_list
        self.authenticator = authenticator
        self._context = context
        self._socket = sock
        self._clock = clock
        security_level = "plain" if public_key is None else "curve+allow-list" if allow_list else "curve"
        self.actor = CounterActor(
            count=store.loaded_count,
            identity=Identity(
                node_id=store.node_id,
                name=config.instance_name,
                version=__version__,
                durability=config.sync,
                security=security_level,
                public_key=public_key,
            ),
            started_at=clock(),
        )
        self.persistence = Persistence(
            store, self.actor, always=config.sync == "always", clock=clock, on_change=self._publish_status
        )
        self._drain = config.sync == "always"
        # Wake-ups arrive on the serving socket itself, over inproc, so the loop blocks in one
        # plain recv, as a bare echo server does, rather than polling two sources.
        self._wake_endpoint = f"inproc://pingd-wake-{id(self):x}"
        # The wake-up peer's routing id; its messages are not requests. Random per daemon, so
        # that no client can choose it (a client that did would have no STATUS replies).
        self._wake_id = b"pingd-wake-" + secrets.token_hex(16).encode()
        sock.bind(self._wake_endpoint)
        self._tasks: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._stop_requested = threading.Event()
        self._status_at = 0.0
        self._rate_mark = (0.0, 0)
        self._rate = 0.0
        self.ready = threading.Event()
        self.descriptor_watch = descriptor_watch or descriptors.DescriptorWatch()
        self.memory = memory or MemoryTrimmer()
        self.announcers = [make(self) for make in announcers]
        # A plain recv_multipart, but while descriptors are short one that notes which peer
        # each request came from (descriptors.DescriptorWatch.receive), set by _housekeeping.
        self._recv: Callable[..., list[bytes]] = sock.recv_multipart
        self._next_check = clock()

    # -- control, from signal handlers or other threads ----------------------------------------

    def stop(self) -> None:
        self._stop_requested.set()
        self._wake()

    def request_reload(self) -> None:
        self.call_soon(self._reload)

    def renamed(self, name: str) -> None:
        """The mDNS name was taken and another chosen (called from zeroconf's thread)."""
        self.call_soon(lambda: setattr(self.actor.identity, "name", name))

    def call_soon(self, task: Callable[[], None]) -> None:
        """Run ``task`` on the loop's thread, the one that owns the actor, at its next turn."""
        self._tasks.put(task)
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
        self._recv = sock.recv_multipart
        self._next_check = self._clock()
        watchdog = self.notifier.watchdog_interval
        next_watchdog = self._clock()
        origin = " (socket passed by systemd)" if self.listening.passed else ""
        for ep in self.listening.endpoints:
            log.info("listening on %s%s", ep, origin)
        self.notifier.ready(self._status_line())
        self.ready.set()
        for announcer in self.announcers:
            announcer.start()
        try:
            adopt(sock, self.listening)  # a passed socket, last: listener.py says why
            while not self._stop_requested.is_set():
                if watchdog is not None and self._clock() >= next_watchdog:
                    self.notifier.watchdog()  # from the loop itself: a hung loop goes silent
                    next_watchdog = self._clock() + watchdog
                try:
                    first = self._recv()
                except zmq.Again:  # a quiet tick: only housekeeping to do
                    first = None
                while not self._tasks.empty():
                    self._run_task(self._tasks.get_nowait())
                if first is not None:
                    self._serve_batch(first)
                self._housekeeping()
        except StartupError as exc:
            log.error("%s", exc)
            return exc.exit_code
        finally:
            if self.descriptor_watch.evictor is not None:
                self.descriptor_watch.evictor.close()  # its monitor first: the context must end
            self._shutdown()
        return 0

    def _run_task(self, task: Callable[[], None]) -> None:
        """A task from another thread (a reload, a rename): one that fails is one log line,
        and the daemon serves on; it must never end the loop that answers pings."""
        try:
            task()
        except Exception as exc:
            log.error("an internal task failed, serving on: %s: %s", type(exc).__name__, exc)

    def _serve_batch(self, frames: list[bytes]) -> None:
        """Answer ``frames`` and whatever else is already waiting (up to MAX_BATCH).

        Every PING is counted by ``actor.ping()``; a well-formed single-frame PING skips the
        decoder (its PONG is built from its own sequence bytes), anything else is decoded.
        """
        sock = self._socket
        actor = self.actor
        recv, events, drain = self._recv, sock.getsockopt, self._drain
        is_ping, wake_id = protocol.is_ping, self._wake_id
        pongs: list[tuple[bytes, bool, bytes, int]] = []  # (peer, REQ envelope, seq bytes, count)
        others: list[tuple[bytes, bool, Reply]] = []  # (peer, REQ envelope, reply)
        while True:
            if len(frames) == 2 and is_ping(frames[1]):
                self._ping(frames[0], False, frames[1][4:12], pongs, others)
            elif frames[0] != wake_id:
                self._decode_and_answer(frames, pongs, others)
            # With --sync always, drain what is already waiting so one fdatasync serves it all
            # (group commit). Otherwise one message per turn: a pwrite (~1 µs) costs less than
            # asking the socket whether more is waiting (a getsockopt, ~1.5 µs in pyzmq).
            if not drain or len(pongs) + len(others) >= MAX_BATCH or not cast(int, events(_EVENTS)) & _POLLIN:
                break
            frames = recv(_NOBLOCK)
        if actor.dirty and not self.persistence.commit():
            text = f"not counted: {actor.storage_error}"
            others += [
                (peer, envelope, ErrorReply(int.from_bytes(seq, "big"), ErrorCode.STORAGE_FAILED, text))
                for peer, envelope, seq, _ in pongs
            ]
            pongs = []
        # A ROUTER with router_mandatory off never refuses a send: a reply to a vanished peer,
        # or to one whose queue is full, is dropped by libzmq, and the batch goes on.
        send, pong_prefix = sock.send, protocol.PONG_PREFIX
        for peer, envelope, seq, count in pongs:
            send(peer, _MORE)
            if envelope:
                send(b"", _MORE)
            send(pong_prefix + seq + count.to_bytes(8, "big"), _NOBLOCK)
        for peer, envelope, reply in others:
            send(peer, _MORE)
            if envelope:
                send(b"", _MORE)
            send(protocol.encode_reply(reply), _NOBLOCK)

    def _ping(self, peer: bytes, envelope: bool, seq: bytes, pongs: list, others: list) -> None:
        count = self.actor.ping()
        if count is None:
            others.append(
                (
                    peer,
                    envelope,
                    ErrorReply(int.from_bytes(seq, "big"), ErrorCode.COUNT_EXHAUSTED, "the count is at 2**64-1"),
                )
            )
        else:
            pongs.append((peer, envelope, seq, count))

    def _decode_and_answer(self, frames: list[bytes], pongs: list, others: list) -> None:
        """Anything but a plain PING. A request that came after an empty delimiter frame (as a
        REQ socket sends it) is answered after one too."""
        peer = frames[0]
        envelope = len(frames) > 2 and frames[1] == b""
        message = frames[2:] if envelope else frames[1:]
        if len(message) != 1:
            seq = protocol.sequence_of(message[0]) if message else 0
            others.append((peer, envelope, ErrorReply(seq, ErrorCode.MALFORMED, "a request is exactly one frame")))
            return
        try:
            request = protocol.decode_request(message[0])
        except ProtocolError as exc:
            others.append((peer, envelope, ErrorReply(exc.seq, exc.code, exc.text)))
            return
        if isinstance(request, Ping):
            self._ping(peer, envelope, request.seq.to_bytes(8, "big"), pongs, others)
        else:
            status = replace(self.actor.status(self._clock()), announced=self._announced())
            others.append((peer, envelope, StatusReply(request.seq, status)))

    def _housekeeping(self) -> None:
        now = self._clock()
        self.persistence.tick(now)
        if now < self._next_check:
            return
        watch = self.descriptor_watch
        if now >= watch.due:  # once a second; while descriptors are short, more often
            watch.check(now)
            self._recv = watch.receive or self._socket.recv_multipart
        if now >= self._status_at + STATUS_INTERVAL:
            self.memory.check(now)
            self._update_status(now)
        self._next_check = min(watch.due, self._status_at + STATUS_INTERVAL)

    def _update_status(self, now: float) -> None:
        then, served = self._rate_mark
        if now > then:
            self._rate = (self.actor.served - served) / (now - then)
        self._rate_mark = (now, self.actor.served)
        self._status_at = now
        self._publish_status()

    def _publish_status(self) -> None:
        self.notifier.status(self._status_line())

    def _status_line(self) -> str:
        if self.actor.storage_error:
            return f"NOT COUNTING: {self.actor.storage_error}"
        where = self.listening.bound
        line = f"serving {where}, count {self.actor.committed}, {self._rate:.0f} pings/s"
        if self.announcers:
            line += f", {', '.join(a.describe() for a in self.announcers)}"
        return line

    def _announced(self) -> str:
        """How the daemon makes itself known, as STATUS reports it: each way and its state."""
        return "; ".join(a.describe() for a in self.announcers) or "not announced (--no-mdns, no --dns-domain)"

    def _reload(self) -> None:
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
        from pingd.host import logs

        old = self.config
        changed = []
        if new.log_level != old.log_level:
            logs.set_level(new.log_level)
            changed.append(f"log_level {old.log_level} -> {new.log_level}")
        for key in RESTART_ONLY:
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
        for announcer in self.announcers:
            announcer.close()
        if self.authenticator is not None:
            self.authenticator.stop()
        self._context.term()
        log.info("stopped, count %d", self.actor.committed)


def create_daemon(
    config: Config,
    state_path: str | Path,
    *,
    environ=None,
    reload_config: Callable[[], Config] | None = None,
    notifier: Notifier | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Daemon:
    """Open the state file, bind the socket, build every collaborator, and return a Daemon
    ready to serve (announcing over mDNS once it serves, if the settings say so)."""
    from pingd.host import systemd
    from pingd.serve.store import StateFileError

    soft, hard = descriptors.raise_soft_limit()
    log.debug("file descriptor limit %d (hard %d)", soft, hard)
    try:
        store = StateStore.open(Path(state_path))
    except StateFileError as exc:
        raise StartupError(str(exc), EXIT_STATE) from None
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
        try:
            announcers = _announcers(config, listening, store.node_id, pair)
            evictor = IdleEvictor(sock, listening.port)
        except BaseException:
            sock.close(linger=0)
            raise
    except keys.KeyFileError as exc:
        _abandon(store, context, authenticator)
        raise StartupError(str(exc), EXIT_STATE) from None
    except BaseException:
        _abandon(store, context, authenticator)
        raise
    return Daemon(
        config,
        store,
        context,
        sock,
        listening,
        notifier=notifier or Notifier(environ),
        announcers=announcers,
        reload_config=reload_config,
        allow_list=allow_list,
        authenticator=authenticator,
        public_key=pair.public if pair is not None else None,
        descriptor_watch=descriptors.DescriptorWatch(evictor=evictor),
        clock=clock,
    )


def _announcers(
    config: Config, listening: Listening, node_id: str, pair: keys.KeyPair | None
) -> list[Callable[[Daemon], Announcer]]:
    """How the daemon makes itself known: over mDNS, in a DNS domain, both or neither. Each
    is made given the daemon (mDNS hands it a rename). A DNS key file that cannot be used
    stops the start here, with the settings' exit code."""
    from pingd.announce.mdns import Announcement, MdnsAnnouncer

    announcement = Announcement(
        name=config.instance_name,
        port=listening.port,
        listening=listening.addresses,
        node_id=node_id,
        public_key=pair.public if pair is not None else None,
    )
    made: list[Callable[[Daemon], Announcer]] = []
    if config.mdns:
        made.append(lambda daemon: MdnsAnnouncer(announcement, config.mdns_interfaces, on_renamed=daemon.renamed))
    if config.dns_domain is not None:
        from pingd.announce.dnssd import DnsSettingError
        from pingd.announce.registrar import registrar_for

        try:
            registrar = registrar_for(
                announcement, listening.addresses, config.dns_domain, config.dns_server_address, config.dns_key
            )
        except DnsSettingError as exc:
            raise StartupError(str(exc), EXIT_SETTINGS) from None
        made.append(lambda daemon: registrar)
    return made


def _abandon(store: StateStore, context: zmq.Context, authenticator) -> None:
    if authenticator is not None:
        authenticator.stop()
    store.close()
    context.term()
