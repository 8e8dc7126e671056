"""pingd's listening socket: a ROUTER bound where the settings say, or adopted from systemd.

Every socket option that decides how pingd meets the network is set here, each with why:
the per-frame size limit, queue depths, heartbeats for vanished peers, the handshake timeout
and backlog that keep a flood of idle connections from taking every descriptor (peers that
finish the handshake and then say nothing are evicted when descriptors run short: evictor).

A socket passed by systemd is adopted last (``adopt``, when the daemon starts serving): the
kernel may already hold a flood of connections on it, which libzmq accepts the moment it has
the socket, taking every free descriptor before pingd has imported its modules, opened its
notify socket or started mDNS. Until then they wait in the listen backlog. Its backlog is
then set to pingd's own (``descriptors.BACKLOG``, listen(2) again): a long one (systemd's
default is 4,096) fills with idle peers under a flood and a real client waits behind them all.
"""

from __future__ import annotations

import errno
import os
import socket
from dataclasses import dataclass

import zmq

from pingd.config import Config
from pingd.errors import EXIT_LISTEN, EXIT_SETTINGS, StartupError
from pingd.host import netinfo
from pingd.serve import descriptors, security
from pingd.shared import addresses as addressing
from pingd.shared import protocol
from pingd.shared.keys import KeyPair


@dataclass(frozen=True, slots=True)
class Listening:
    """Where the socket listens: the bound endpoint and the addresses clients can use."""

    bound: str
    port: int
    addresses: tuple[str, ...]
    passed: bool = False  # the socket came from systemd (socket activation)
    fd: int | None = None  # the passed socket, until ``adopt`` hands it to the ROUTER

    @property
    def endpoints(self) -> list[str]:
        return [addressing.endpoint(a, self.port) for a in self.addresses]


def open_socket(
    context: zmq.Context, config: Config, passed_fds: list[int], curve: KeyPair | None = None
) -> tuple[zmq.Socket, Listening]:
    """Create and bind the ROUTER socket; a socket passed by systemd is only described here,
    and handed to the ROUTER by ``adopt`` once the daemon serves."""
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
    sock.ipv6 = wildcard or addressing.is_ipv6(config.bind)
    try:
        if passed_fds:
            fd = passed_fds[0]
            family, host, port = _describe_fd(fd)
            sock.ipv6 = family == socket.AF_INET6
            wildcard = netinfo.is_wildcard(host)
            bound = addressing.endpoint(host, port)  # bound by systemd; the ROUTER adopts it later
        else:
            fd = None
            host = "*" if wildcard else config.bind.strip("[]")
            try:
                sock.bind(addressing.endpoint(host, config.port))
            except zmq.ZMQError as exc:
                if not (wildcard and exc.errno == errno.EADDRNOTAVAIL):
                    raise
                sock.ipv6 = False  # a host without IPv6: serve IPv4 alone
                sock.bind(addressing.endpoint(host, config.port))
            bound = sock.last_endpoint.decode()
            port = int(bound.rsplit(":", 1)[1])
    except zmq.ZMQError as exc:
        sock.close(0)
        where = f"{config.bind}:{config.port}"
        bind_origin, port_origin = config.origin("bind"), config.origin("port")
        hint = {
            errno.EADDRINUSE: f"another program listens there; stop it or choose another port ({port_origin})",
            errno.EADDRNOTAVAIL: f"this host has no such address; check {bind_origin}",
            errno.EACCES: f"permission denied; use a port above 1023 ({port_origin})",
        }.get(exc.errno or 0, f"check {bind_origin} and {port_origin}")
        raise StartupError(f"cannot listen on {where}: {exc.strerror}; {hint}", EXIT_LISTEN) from None
    if wildcard:
        addresses = [a for a in netinfo.interface_addresses() if sock.ipv6 or ":" not in a]
    else:
        addresses = [bound.removeprefix("tcp://").rsplit(":", 1)[0].strip("[]")]
    return sock, Listening(bound=bound, port=port, addresses=tuple(addresses), passed=fd is not None, fd=fd)


def adopt(sock: zmq.Socket, listening: Listening) -> None:
    """Have the ROUTER accept on the socket systemd passed (nothing to do for one it bound)."""
    if listening.fd is None:
        return
    try:
        with socket.socket(fileno=os.dup(listening.fd)) as s:
            s.listen(descriptors.BACKLOG)
        sock.setsockopt(zmq.USE_FD, listening.fd)
        sock.bind(listening.bound)
    except (OSError, zmq.ZMQError) as exc:
        raise StartupError(f"cannot listen on the socket systemd passed: {exc.strerror}", EXIT_LISTEN) from None


def _describe_fd(fd: int) -> tuple[int, str, int]:
    s = socket.socket(fileno=os.dup(fd))
    try:
        if s.type != socket.SOCK_STREAM or s.family not in (socket.AF_INET, socket.AF_INET6):
            raise StartupError(f"passed file descriptor {fd} is not a TCP socket", EXIT_SETTINGS)
        host, port = s.getsockname()[:2]
        return s.family, host or "*", port
    finally:
        s.close()
