"""The announcers the settings ask for, assembled: over mDNS (through avahi-daemon or pingd's own
responder, ``backend.choose``), in a DNS domain, both or neither. Each is made given the daemon,
which hands mDNS its rename callback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from pingd.announce.announcement import Announcement, Announcer, announced_addresses
from pingd.errors import EXIT_SETTINGS, StartupError
from pingd.shared import keys

if TYPE_CHECKING:
    from pingd.daemon import Daemon
    from pingd.serve.listener import Listening
    from pingd.settings import Config

log = logging.getLogger("pingd")


def announcers_for(
    config: Config, listening: Listening, node_id: str, pair: keys.KeyPair | None
) -> list[Callable[[Daemon], Announcer]]:
    """How the daemon makes itself known: over mDNS, in a DNS domain, both or neither. Each
    is made given the daemon (mDNS hands it a rename). A DNS key file that cannot be used
    stops the start here, with the settings' exit code."""
    announcement = Announcement(
        name=config.instance_name,
        port=listening.port,
        listening=listening.addresses,
        node_id=node_id,
        public_key=pair.public if pair is not None else None,
    )
    made: list[Callable[[Daemon], Announcer]] = []
    if config.mdns:
        made.append(_mdns_announcer(config, announcement))
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


def _mdns_announcer(config: Config, announcement: Announcement) -> Callable[[Daemon], Announcer]:
    """avahi-daemon's responder or pingd's own (``mdns_backend``), chosen now and said in
    one line when it starts."""
    from pingd.announce import backend

    def avahi_missing() -> str | None:
        from pingd.announce.avahi import avahi_running

        return avahi_running()

    addresses = announced_addresses(announcement.listening, config.mdns_interfaces)
    choice = backend.choose(config.mdns_backend, config.mdns_interfaces, addresses, avahi_missing)
    if choice.backend == backend.AVAHI:
        from pingd.announce.avahi import AvahiAnnouncer as Chosen
    else:
        from pingd.announce.mdns import MdnsAnnouncer as Chosen  # type: ignore[assignment]
    return lambda daemon: _Introduced(
        Chosen(announcement, config.mdns_interfaces, on_renamed=daemon.renamed), choice.log_line()
    )


class _Introduced:
    """An announcer that says which one it is as it starts."""

    def __init__(self, announcer: Announcer, line: str) -> None:
        self._announcer, self._line = announcer, line

    def start(self) -> None:
        log.info("%s", self._line)
        self._announcer.start()

    def describe(self) -> str:
        return self._announcer.describe()

    def close(self) -> None:
        self._announcer.close()
