"""The daemon: the lifecycle around the request loop.

``create_daemon`` (the testable factory, as blackd's ``make_app``) opens the state file, binds
the socket and builds every collaborator; ``Daemon.serve`` then runs as uvicorn's
``Server.serve`` does: start up (say where it listens, tell systemd it is ready, start the
announcers, adopt a passed socket), run the main loop (``serve.loop.Loop``: receive → count →
persist → answer) until stopped, and shut down (the final sync, goodbyes, the context).

The Daemon keeps what is not the loop's: signals, ``call_soon`` for other threads, reload, the
housekeeping timers the loop calls back (systemd's watchdog, file descriptors and the idle-peer
hook, memory, the status line: ``host.systemd.StatusLine``), and shutdown.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import zmq

from pingd import __version__
from pingd.announce.announcement import Announcer
from pingd.announce.assembly import announcers_for
from pingd.config import RESTART_ONLY, Config
from pingd.errors import EXIT_STATE, StartupError
from pingd.host.memory import MemoryTrimmer
from pingd.host.systemd import Notifier, StatusLine
from pingd.mesh.prober import Mesh, MeshSettings, table_of
from pingd.serve import descriptors, security
from pingd.serve.counter import CounterActor, Identity
from pingd.serve.evictor import IdleEvictor
from pingd.serve.listener import Listening, adopt, open_socket
from pingd.serve.loop import Loop
from pingd.serve.persistence import Persistence
from pingd.serve.store import StateStore
from pingd.shared import keys
from pingd.shared.protocol import MAX_STATUS_TEXT

if TYPE_CHECKING:
    from pingd.host.exporter import MetricsServer

log = logging.getLogger("pingd")

__all__ = ["Daemon", "StartupError", "create_daemon"]


class Authenticator(Protocol):
    """The ZAP handler's thread, with --allow-clients (zmq.auth.thread.ThreadAuthenticator)."""

    def stop(self) -> None: ...


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
        authenticator: Authenticator | None = None,
        public_key: str | None = None,
        descriptor_watch: descriptors.DescriptorWatch | None = None,
        memory: MemoryTrimmer | None = None,
        metrics: MetricsServer | None = None,
        mesh: Mesh | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.store = store
        self.listening = listening
        self.notifier = notifier
        self.reload_config = reload_config
        self.allow_list = allow_list
        self.authenticator = authenticator
        self.metrics = metrics  # /metrics, bound; served from serve() on (pingd.host.metrics)
        self.mesh = mesh  # probes peers once serving, with --mesh (pingd.mesh)
        self._context = context
        self._socket = sock
        self.actor = CounterActor(
            count=store.loaded_count, identity=_identity(config, store, public_key, allow_list), started_at=clock()
        )
        self.status_line = StatusLine(notifier, self.actor, listening.bound, self._describe_announcers)
        persistence = Persistence(
            store, self.actor, always=config.sync == "always", clock=clock, on_change=self.status_line.publish
        )
        self.loop = Loop(
            sock,
            self.actor,
            persistence,
            announced=self._announced,
            peer_table=table_of(mesh),
            mesh=(lambda: None) if mesh is None else mesh.describe,
            clock=clock,
        )
        self.ready = threading.Event()
        self.descriptor_watch = descriptor_watch or descriptors.DescriptorWatch()
        self.memory = memory or MemoryTrimmer()
        # systemd's watchdog, due at once when asked for (WatchdogSec=), else never.
        self._next_watchdog = -math.inf if notifier.watchdog_interval is not None else math.inf
        self._served_at_tick = -1  # pings served at the last tick: the first is never quiet
        self.announcers = [make(self) for make in announcers]

    # -- control, from signal handlers or other threads ----------------------------------------

    def stop(self) -> None:
        self.loop.stop()

    def request_reload(self) -> None:
        self.call_soon(self._reload)

    def renamed(self, name: str) -> None:
        """The mDNS name was taken and another chosen (called from zeroconf's thread)."""
        self.call_soon(lambda: setattr(self.actor.identity, "name", name))

    def call_soon(self, task: Callable[[], None]) -> None:
        """Run ``task`` on the loop's thread, the one that owns the actor, at its next turn."""
        self.loop.call_soon(task)

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self.stop())
        signal.signal(signal.SIGINT, lambda *_: self.stop())
        signal.signal(signal.SIGHUP, lambda *_: self.request_reload())

    # -- start up, serve, shut down ------------------------------------------------------------

    def serve(self) -> int:
        """Serve until stop() or SIGTERM; persist, say goodbye, and return the exit code."""
        origin = " (socket passed by systemd)" if self.listening.passed else ""
        for ep in self.listening.endpoints:
            log.info("listening on %s%s", ep, origin)
        if self.metrics is not None:
            from pingd.host.metrics import app_for

            self.metrics.start(app_for(self))
            log.info("metrics on %s", self.metrics.url)
        self.notifier.ready(self.status_line.text())
        self.ready.set()
        for announcer in self.announcers:
            announcer.start()
        if self.mesh is not None:
            self.mesh.start()
        try:
            adopt(self._socket, self.listening)  # a passed socket, last: listener.py says why
            self.loop.run(self._tick)
        except StartupError as exc:
            log.error("%s", exc)
            return exc.exit_code
        finally:
            self._shutdown()
        return 0

    def _tick(self, now: float) -> float:
        """The loop's housekeeping, called back from the loop when due: systemd's watchdog,
        file descriptors (and with them the idle-peer hook), memory and the status line.
        Returns when it is next due."""
        served = self.actor.served
        quiet, self._served_at_tick = served == self._served_at_tick, served
        watchdog = self.notifier.watchdog_interval
        # From the loop itself (a hung loop goes silent), once half the interval has passed:
        # so it rides on a wake-up that is due anyway instead of costing one of its own.
        if watchdog is not None and now >= self._next_watchdog - watchdog / 2:
            self.notifier.watchdog()
            self._next_watchdog = now + watchdog
        watch = self.descriptor_watch
        if now >= watch.due:  # every 0.25 s; more often while short, less while idle
            watch.check(now, quiet)
            self.loop.watch_peers(watch.receive)
        self.memory.check(now)  # at most every memory.INTERVAL
        if not quiet:
            self.status_line.woken(now)
        if now >= self.status_line.due:
            self.status_line.update(now)
        else:  # an announcement's new state ("registering" → "announced as …"), if any
            self.status_line.publish()
        return min(watch.due, self.status_line.due, self._next_watchdog)

    def _describe_announcers(self) -> list[str]:
        return [a.describe() for a in self.announcers]

    def _announced(self) -> str:
        """How the daemon makes itself known, as STATUS reports it: each way and its state.
        The errors it quotes come from mDNS and DNS servers, of any length: a text over the
        protocol's longest string is cut, the cut marked, or pingctl would take the whole
        reply for no pingd's."""
        text = "; ".join(self._describe_announcers()) or "not announced (--no-mdns, no --dns-domain)"
        return text if len(text) <= MAX_STATUS_TEXT else text[: MAX_STATUS_TEXT - 1] + "…"

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
        changed: list[str] = []
        if new.log_level != old.log_level:
            logs.set_level(new.log_level)
            changed.append(f"log_level {old.log_level} -> {new.log_level}")
        for key in RESTART_ONLY:
            if getattr(new, key) != getattr(old, key):
                log.warning("reload: %s changed; restart pingd to apply it", key)
        self.config = replace(old, log_level=new.log_level)  # the rest needs a restart
        log.info("reloaded configuration: %s", ", ".join(changed) or "nothing changed live")

    def _shutdown(self) -> None:
        if self.mesh is not None:
            self.mesh.close()  # its own context and sockets: probing stops first
        if self.metrics is not None:
            self.metrics.close()  # waits for no scrape
        if self.descriptor_watch.evictor is not None:
            self.descriptor_watch.evictor.close()  # its monitor first: the context must end
        self.notifier.stopping(f"stopping, count {self.actor.committed}")
        self.loop.close_wakes()  # no socket may be made while the context ends
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
    environ: Mapping[str, str] | None = None,
    reload_config: Callable[[], Config] | None = None,
    notifier: Notifier | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Daemon:
    """Open the state file, bind the socket, build every collaborator: a Daemon ready to serve."""
    from pingd.host import systemd
    from pingd.serve.store import StateFileError

    soft, hard = descriptors.raise_soft_limit()
    log.debug("file descriptor limit %d (hard %d)", soft, hard)
    try:
        store = StateStore.open(Path(state_path))
    except StateFileError as exc:
        raise StartupError(str(exc), EXIT_STATE) from None
    context = zmq.Context()
    authenticator: Authenticator | None = None
    pair: keys.KeyPair | None = None
    metrics: MetricsServer | None = None
    try:
        metrics = _metrics_for(config)
        if config.curve:
            pair = keys.load_or_create(Path(state_path).parent, "pingd-curve")
        allow_list = security.allow_list_for(config)
        if allow_list is not None:
            authenticator = security.start_authenticator(context, allow_list)
        sock, listening = open_socket(context, config, systemd.listen_fds(environ), pair)
        try:
            announcers = announcers_for(config, listening, store.node_id, pair)
            evictor = IdleEvictor(sock, listening.port)
        except BaseException:
            sock.close(linger=0)
            raise
    except keys.KeyFileError as exc:
        _abandon(store, context, authenticator, metrics)
        raise StartupError(str(exc), EXIT_STATE) from None
    except BaseException:
        _abandon(store, context, authenticator, metrics)
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
        metrics=metrics,
        mesh=_mesh_for(config, store.node_id, pair),
        clock=clock,
    )


def _mesh_for(config: Config, node_id: str, pair: keys.KeyPair | None) -> Mesh | None:
    """The mesh's prober, with --mesh (started once the daemon serves)."""
    if not config.mesh:
        return None
    settings = MeshSettings(
        interval=config.mesh_interval,
        cap=config.mesh_peers,
        node_id=node_id,
        interfaces=config.mdns_interfaces,
        keys=(pair.public, pair.secret) if pair is not None else None,
        dns_domain=config.dns_domain,
        dns_server=config.dns_server_address,
    )
    return Mesh(settings)


def _metrics_for(config: Config) -> MetricsServer | None:
    """The /metrics server, bound, if asked for: only then are http.server and prometheus-client imported."""
    if config.metrics is None:
        return None
    from pingd.host.exporter import bind_for

    return bind_for(config)


def _identity(
    config: Config, store: StateStore, public_key: str | None, allow_list: security.ClientAllowList | None
) -> Identity:
    """What the daemon says about itself in STATUS replies."""
    security_level = "plain" if public_key is None else "curve+allow-list" if allow_list else "curve"
    return Identity(
        node_id=store.node_id,
        name=config.instance_name,
        version=__version__,
        durability=config.sync,
        security=security_level,
        public_key=public_key,
    )


def _abandon(store: StateStore, ctx: zmq.Context, auth: Authenticator | None, metrics: MetricsServer | None) -> None:
    if metrics is not None:
        metrics.close()
    if auth is not None:
        auth.stop()
    store.close()
    ctx.term()
