"""What each pingd setting is, declared once: a ``Config`` field made by ``setting()``.

A field's name is the TOML key, its type and default are the field's own, and ``setting()``
adds the parser and the words of its flag's help. Everything else that names a setting is
derived from that one declaration (``Setting``): the flag (``--state-file``), the environment
variable (``PINGD_STATE_FILE``), the default ``--help`` shows, and whether a SIGHUP can change
it in a running daemon (``RESTART_ONLY`` lists the ones that cannot). pingd.config resolves
the layers; pingd.cli makes the flags.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Final, TypeVar

from pingd.shared.protocol import DEFAULT_PORT

SYNC_MODES: Final = ("periodic", "always")
LOG_LEVELS: Final = ("debug", "info", "warning", "error")
MDNS_BACKENDS: Final = ("auto", "avahi", "zeroconf")
DNS_PORT: Final = 53
#: The port the documents suggest for ``metrics``: beside pingd's own, and outside the range
#: Prometheus' list of default exporter ports allocates (docs/operating.md, "Metrics").
METRICS_PORT: Final = 7465

T = TypeVar("T")

# Each parser turns a file, environment or flag value into the typed value, or raises ValueError.


def _port(value: Any) -> int:
    if isinstance(value, (bool, float)):  # 7464.9 is not a port
        raise ValueError("expected a whole port number")
    try:
        port = int(value)
    except (TypeError, ValueError):  # "oops", [7464]: Python's own words would not say what is wanted
        raise ValueError("expected a whole port number") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"{port} is not a port (0-65535; 0 picks a free one)")
    return port


@dataclass(frozen=True, slots=True)
class _OneOf:
    """A parser that takes one of ``options``, in any case."""

    options: tuple[str, ...]

    def __call__(self, value: Any) -> str:
        text = str(value).lower()
        if text not in self.options:
            raise ValueError(f"{value!r} is not one of {', '.join(self.options)}")
        return text


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{value!r} is not true or false")


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a non-empty string")
    return value.strip()


def _name(value: Any) -> str:
    """The grammar pingctl holds announced names to (``service.instance_name_problem``), so
    that pingd never announces a name its clients refuse."""
    from pingd.shared.service import instance_name_problem

    text = _text(value)
    problem = instance_name_problem(text)
    if problem is not None:
        raise ValueError(problem)
    return text


_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,252})")
_DOTTED = re.compile(r"[0-9.]+")  # digits and dots that are not an IPv4 address: a typo
_LABEL = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?")


def _bind(value: Any) -> str:
    """`*`, an IPv4 or IPv6 address (brackets allowed), or an interface or host name."""
    text = _text(value)
    if text == "*":
        return text
    literal = text.strip("[]")
    try:
        ipaddress.ip_address(literal)
        return literal
    except ValueError:
        pass
    if _NAME.fullmatch(text) and not _DOTTED.fullmatch(text):
        return text
    raise ValueError("not *, an IP address, or an interface or host name")


def _interfaces(value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise ValueError("expected a list of interface addresses")
    out = []
    for item in items:
        if not str(item).strip():
            continue
        text = _text(item)
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            raise ValueError(f"{text!r} is not an IP address (give the interface's address)") from None
        if ip.is_unspecified or ip.is_multicast:
            raise ValueError(f"{text!r} is no interface's address (give the address of the interface to announce on)")
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            raise ValueError(f"{text!r} is an IPv4 address written as IPv6: give {ip.ipv4_mapped}")
        out.append(str(ip))
    return tuple(out)


def _path(value: Any) -> Path:
    return Path(_text(os.fspath(value) if isinstance(value, os.PathLike) else value)).expanduser()


def _domain(value: Any) -> str:
    """A DNS domain (``example.org``; a final dot is dropped): labels of 1-63 bytes."""
    text = _text(value).rstrip(".")
    labels = text.split(".")
    if len(text) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError("not a domain name (labels of letters, digits, - and _, dot-separated)")
    return text


def _dns_server(value: Any) -> str:
    dns_server_address(_text(value))
    return _text(value)


def dns_server_address(text: str) -> tuple[str, int]:
    """``ADDR``, ``ADDR:PORT``, ``[V6]:PORT``, a bare IPv6 address or a host name → (host, port)."""
    port = DNS_PORT
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ValueError("expected [ADDRESS]:PORT")
            port = _dns_port(rest[1:])
    elif text.count(":") == 1:
        host, _, number = text.partition(":")
        port = _dns_port(number)
    else:
        host = text
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _NAME.fullmatch(host) or _DOTTED.fullmatch(host):
            raise ValueError(f"{host!r} is not an IP address or host name") from None
    return host, port


def _dns_port(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 65535:
        raise ValueError(f"{text!r} is not a port (1-65535)")
    return int(text)


def _metrics(value: Any) -> str:
    if not isinstance(value, str):  # metrics = 7465 in the file: a port alone is not where
        raise ValueError(f'expected ADDRESS:PORT in quotes, such as "127.0.0.1:{METRICS_PORT}"')
    host, port = metrics_address(_text(value))
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def metrics_address(text: str) -> tuple[str, int]:
    """``ADDR:PORT``, ``[V6]:PORT`` or ``*:PORT`` (every interface) → (host, port); the
    address is a literal, so the metrics are served exactly where the setting says."""
    host, colon, number = text.rpartition(":")
    if not colon or not host:
        raise ValueError(f"expected ADDRESS:PORT, such as 127.0.0.1:{METRICS_PORT} ([::1]:PORT, *:PORT)")
    if host != "*":
        if host.startswith("[") != host.endswith("]") or (":" in host and not host.startswith("[")):
            raise ValueError("write an IPv6 address in brackets: [::1]:PORT")
        try:
            host = str(ipaddress.ip_address(host.strip("[]")))
        except ValueError:
            raise ValueError(f"{host!r} is not an IP address (or * for every interface)") from None
    if not (number.isascii() and number.isdigit()) or not 0 <= int(number) <= 65535:
        raise ValueError(f"{number!r} is not a port (0-65535; 0 picks a free one)")
    return host, int(number)


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

    bind: str = setting("*", _bind, "Address to listen on; * is every interface, IPv4 and IPv6.")
    port: int = setting(DEFAULT_PORT, _port, "TCP port; 0 picks a free one.")
    state_file: Path | None = setting(
        None,
        _path,
        "State file.",
        shown_default="$PINGD_STATE_FILE, $STATE_DIRECTORY/state.json, or the user state dir",
    )
    sync: str = setting(
        "periodic", _OneOf(SYNC_MODES), "periodic: on disk within 1 s; always: fsync before every PONG (group commit)."
    )
    name: str | None = setting(None, _name, "Instance name announced over mDNS.", shown_default="the host name")
    mdns: bool = setting(True, _bool, "Announce over mDNS/DNS-SD.")
    mdns_interfaces: tuple[str, ...] = setting(
        (),
        _interfaces,
        "Announce only on this interface address (repeatable).",
        shown_default="all",
        flag="--mdns-interface",
    )
    mdns_backend: str = setting(
        "auto",
        _OneOf(MDNS_BACKENDS),
        "Who answers mDNS for pingd: avahi (avahi-daemon, over D-Bus), zeroconf (pingd's own responder), "
        "or auto: avahi when it is on the system bus.",
    )
    log_level: str = setting("info", _OneOf(LOG_LEVELS), "debug, info, warning or error.", reloadable=True)
    curve: bool = setting(
        False, _bool, "Serve only CURVE-encrypted connections; the key pair lives beside the state file."
    )
    allow_clients: Path | None = setting(
        None, _path, "With --curve: admit only clients whose public key is in a file in this directory."
    )
    dns_domain: str | None = setting(
        None, _domain, "Also register in this DNS domain by dynamic update (RFC 2136), for DNS-SD beyond the LAN."
    )
    dns_server: str | None = setting(  # ADDRESS[:PORT]; None: the zone's primary, from its SOA
        None,
        _dns_server,
        "With --dns-domain: the DNS server to update, ADDRESS[:PORT].",
        shown_default="the zone's primary (SOA)",
        metavar="ADDR[:PORT]",
    )
    dns_key: Path | None = setting(
        None, _path, "With --dns-domain: sign updates with the TSIG key in this file (BIND's format, tsig-keygen)."
    )
    metrics: str | None = setting(
        None,
        _metrics,
        f"Serve Prometheus metrics at http://ADDR:PORT/metrics, e.g. 127.0.0.1:{METRICS_PORT} (*:PORT: every "
        "interface).",
        shown_default="off",
        metavar="ADDR:PORT",
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
