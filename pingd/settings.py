"""What each pingd setting is, declared once: a ``Config`` field made by ``setting()``.

A field's name is the TOML key, its type and default are the field's own, and ``setting()``
adds the parser and the words of its flag's help. Everything else that names a setting is
derived from that one declaration (``Setting``): the flag (``--state-file``), the environment
variable (``PINGD_STATE_FILE``), the default ``--help`` shows, and whether a SIGHUP can change
it in a running daemon (``RESTART_ONLY`` lists the ones that cannot). pingd.config resolves
the layers; pingd.cli makes the flags.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Final, TypeVar

from pingd import values
from pingd.shared.protocol import DEFAULT_PORT
from pingd.shared.schema import MAX_PEERS
from pingd.values import METRICS_PORT, dns_server_address, metrics_address

SYNC_MODES: Final = ("periodic", "always")
LOG_LEVELS: Final = ("debug", "info", "warning", "error")
MDNS_BACKENDS: Final = ("auto", "avahi", "zeroconf")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting, as its ``Config`` field declares it; read them from ``SETTINGS``."""

    key: str  #: the Config field and the settings file's key, e.g. ``state_file``
    default: Any
    parse: Callable[[Any], Any]  #: a flag, environment or file value → the typed value, or ValueError
    help: str  #: what the flag does, for --help and the man page; the default is added to it
    shown_default: str | None = None  #: the default in words, where its value does not say it
    reloadable: bool = False  #: a SIGHUP applies a new value without a restart
    flag_name: str | None = None  #: when the flag is not ``--`` and the key with dashes
    metavar: str | None = None  #: the flag's value in --help, when not its type's

    @property
    def flag(self) -> str:
        return self.flag_name or "--" + self.key.replace("_", "-")

    @property
    def env(self) -> str:
        return "PINGD_" + self.key.upper()

    @property
    def switch(self) -> bool:
        """An on/off setting: its flag comes in pairs, ``--mdns``/``--no-mdns``."""
        return isinstance(self.default, bool)

    @property
    def repeatable(self) -> bool:
        """A list setting: its flag is given once per item."""
        return isinstance(self.default, tuple)

    @property
    def help_default(self) -> str | None:
        """The default as --help shows it (``*``, ``--no-curve``), or None when there is none to show."""
        if self.shown_default is not None:
            return self.shown_default
        if self.switch:
            return self.flag if self.default else "--no-" + self.flag[2:]
        if self.repeatable:
            return ", ".join(map(str, self.default)) or None
        return None if self.default is None else str(self.default)


_SETTING: Final = "pingd.setting"


def setting(
    default: T,
    parse: Callable[[Any], T],
    help: str,
    *,
    shown_default: str | None = None,
    reloadable: bool = False,
    flag: str | None = None,
    metavar: str | None = None,
) -> T:
    """A ``Config`` field that is a setting: its default, its parser and its flag's words (see ``Setting``)."""
    spec = dict(
        parse=parse, help=help, shown_default=shown_default, reloadable=reloadable, flag_name=flag, metavar=metavar
    )
    return field(default=default, metadata={_SETTING: spec})


@dataclass(frozen=True, slots=True)
class Config:
    """Every setting of pingd, each declared here once; a new setting is one more field."""

    bind: str = setting("*", values.bind_address, "Address to listen on; * is every interface, IPv4 and IPv6.")
    port: int = setting(DEFAULT_PORT, values.port, "TCP port; 0 picks a free one.")
    state_file: Path | None = setting(
        None,
        values.path,
        "State file.",
        shown_default="$PINGD_STATE_FILE, $STATE_DIRECTORY/state.json, or the user state dir",
    )
    sync: str = setting(
        "periodic",
        values.OneOf(SYNC_MODES),
        "periodic: on disk within 1 s; always: fsync before every PONG (group commit).",
    )
    name: str | None = setting(
        None, values.instance_name, "Instance name announced over mDNS.", shown_default="the host name"
    )
    mdns: bool = setting(True, values.boolean, "Announce over mDNS/DNS-SD.")
    mdns_interfaces: tuple[str, ...] = setting(
        (),
        values.interface_addresses,
        "Announce only on this interface address (repeatable).",
        shown_default="all",
        flag="--mdns-interface",
    )
    mdns_backend: str = setting(
        "auto",
        values.OneOf(MDNS_BACKENDS),
        "Who answers mDNS for pingd: avahi (avahi-daemon, over D-Bus), zeroconf (pingd's own responder), "
        "or auto: avahi when it is on the system bus.",
    )
    log_level: str = setting("info", values.OneOf(LOG_LEVELS), "debug, info, warning or error.", reloadable=True)
    curve: bool = setting(
        False, values.boolean, "Serve only CURVE-encrypted connections; the key pair lives beside the state file."
    )
    allow_clients: Path | None = setting(
        None, values.path, "With --curve: admit only clients whose public key is in a file in this directory."
    )
    dns_domain: str | None = setting(
        None, values.domain, "Also register in this DNS domain by dynamic update (RFC 2136), for DNS-SD beyond the LAN."
    )
    dns_server: str | None = setting(  # ADDRESS[:PORT]; None: the zone's primary, from its SOA
        None,
        values.dns_server,
        "With --dns-domain: the DNS server to update, ADDRESS[:PORT].",
        shown_default="the zone's primary (SOA)",
        metavar="ADDR[:PORT]",
    )
    dns_key: Path | None = setting(
        None,
        values.path,
        "With --dns-domain: sign updates with the TSIG key in this file (BIND's format, tsig-keygen).",
    )
    metrics: str | None = setting(
        None,
        values.metrics_endpoint,
        f"Serve Prometheus metrics at http://ADDR:PORT/metrics, e.g. 127.0.0.1:{METRICS_PORT} (*:PORT: every "
        "interface).",
        shown_default="off",
        metavar="ADDR:PORT",
    )
    mesh: bool = setting(
        False,
        values.boolean,
        "Probe the other pingd found (mDNS, --dns-domain); answer PEERS with what was learned (pingctl mesh).",
    )
    mesh_interval: float = setting(
        10.0,
        values.Seconds(0.5, 3600.0),
        "With --mesh: seconds between two probes of one peer (each at a random moment of its round).",
        metavar="SECONDS",
    )
    mesh_peers: int = setting(
        64,
        values.Whole(1, MAX_PEERS),
        f"With --mesh: the most peers probed a round; above it, a fresh random sample each round (1-{MAX_PEERS}).",
        metavar="N",
    )
    #: Where the settings file was read from, if any (for --check-config and SIGHUP).
    config_file: Path | None = field(default=None, compare=False)
    #: Where each setting that is not a default came from, for error messages.
    origins: Mapping[str, str] = field(default_factory=dict, compare=False)

    def origin(self, key: str) -> str:
        """How to name a setting in a message: `--bind`, `PINGD_BIND`, or `bind in FILE`."""
        where = self.origins.get(key, "")
        declared = BY_KEY[key]
        if where == "command line":
            return declared.flag
        if where == "environment":
            return declared.env
        if where:
            return f"{key} in {where}"
        return f"{declared.flag} (default)"

    @property
    def instance_name(self) -> str:
        import socket

        return self.name or socket.gethostname().split(".")[0] or "pingd"

    def effective(self) -> dict[str, Any]:
        """The settings as --check-config prints them."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = str(value) if isinstance(value, Path) else value
        out["mdns_interfaces"] = list(self.mdns_interfaces)
        out["name"] = self.instance_name
        return out

    @property
    def dns_server_address(self) -> tuple[str, int] | None:
        return dns_server_address(self.dns_server) if self.dns_server else None

    @property
    def metrics_address(self) -> tuple[str, int] | None:
        return metrics_address(self.metrics) if self.metrics else None


def settings_of(cls: type) -> tuple[Setting, ...]:
    """The settings a dataclass declares with ``setting()``, in the order of its fields."""
    return tuple(
        Setting(key=f.name, default=f.default, **f.metadata[_SETTING]) for f in fields(cls) if _SETTING in f.metadata
    )


#: Every setting, in the order of its flag in --help.
SETTINGS: Final = settings_of(Config)
BY_KEY: Final = {declared.key: declared for declared in SETTINGS}
#: Settings a SIGHUP cannot change in a running daemon (it says so, and keeps the old value).
RESTART_ONLY: Final = tuple(declared.key for declared in SETTINGS if not declared.reloadable)
