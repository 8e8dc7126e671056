"""``pingd --print-dns-records``: the records --dns-domain would register, for a zone kept by hand.

The same records as the dynamic update (``pingd.announce.dnssd``), from the same facts the daemon would
use: its node id (read from the state file, or made now, as the daemon's first start would),
its port, the addresses it would listen on, and its CURVE key if it serves encrypted clients.
Asked not to create (the service's files), it makes neither a state file nor a key pair.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

from pingd import __version__
from pingd.config import Config
from pingd.errors import EXIT_SETTINGS, EXIT_STATE
from pingd.host import netinfo


class CannotPrint(Exception):
    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def lines_for(config: Config, state_path: Path, *, create: bool = True) -> list[str]:
    """The zone-file lines. ``create``: a state file that does not exist yet may be made (the
    user's own); false for the service's files, which only the service may make."""
    from pingd.announce import dnssd
    from pingd.announce.announcement import Announcement

    if config.dns_domain is None:
        raise CannotPrint("--print-dns-records needs the domain: add --dns-domain DOMAIN", EXIT_SETTINGS)
    if config.port == 0:
        raise CannotPrint(
            "--print-dns-records needs a fixed port (the SRV record carries it): give --port", EXIT_SETTINGS
        )
    announcement = Announcement(
        name=config.instance_name,
        port=config.port,
        listening=tuple(_listening(config.bind)),
        node_id=_node_id(state_path, create),
        public_key=_public_key(state_path, create) if config.curve else None,
    )
    records = dnssd.records_for(
        announcement, dnssd.domain_name(config.dns_domain), dnssd.routable_addresses(announcement.listening)
    )
    return [
        f"; pingd {__version__} '{config.instance_name}' (node {announcement.node_id}): DNS-SD records for "
        f"{config.dns_domain} (RFC 6763)",
        *dnssd.zone_lines(records),
    ]


def _node_id(state_path: Path, create: bool) -> str:
    from pingd.serve.statefile import MAX_SIZE, StateFileError, parse
    from pingd.serve.store import StateStore

    try:
        if state_path.exists():
            from pingd.shared import files

            return parse(files.read_regular(state_path, MAX_SIZE), state_path).node_id
        store = StateStore.open(state_path, create=create)  # as the first start would: the node id is then fixed
        store.close()
        return store.node_id
    except StateFileError as exc:
        raise CannotPrint(str(exc), EXIT_STATE) from None
    except OSError as exc:
        raise CannotPrint(f"state file {state_path}: {exc.strerror}", EXIT_STATE) from None


def _public_key(state_path: Path, create: bool) -> str:
    """The daemon's public key, beside its state file (as pingd.daemon keeps it); made now only
    when ``create``, as the first start would."""
    from pingd.shared import keys

    load = keys.load_or_create if create else keys.load
    try:
        return load(state_path.parent, "pingd-curve").public
    except keys.KeyFileError as exc:
        raise CannotPrint(str(exc), EXIT_STATE) from None


def _listening(bind: str) -> list[str]:
    """The addresses a daemon bound to ``bind`` would serve on (as the listener finds them)."""
    if netinfo.is_wildcard(bind):
        return netinfo.interface_addresses()
    try:
        return [str(ipaddress.ip_address(bind.strip("[]")))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(bind, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise CannotPrint(f"cannot resolve --bind {bind!r}: {exc.strerror or exc}", EXIT_SETTINGS) from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))
