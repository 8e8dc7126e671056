"""pingd's settings: one Config, resolved as flags > PINGD_* environment > file > defaults.

Resolution is pure (``resolve`` takes plain mappings), so every precedence rule is tested
without touching the environment or the disk; ``load`` is the thin shell that reads them.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Final

from pingd.shared.protocol import DEFAULT_PORT

CONFIG_NAME: Final = "pingd.toml"
STATE_NAME: Final = "state.json"
SYNC_MODES: Final = ("periodic", "always")
LOG_LEVELS: Final = ("debug", "info", "warning", "error")


class ConfigError(Exception):
    """A setting that cannot be used; the message names where it came from."""


@dataclass(frozen=True, slots=True)
class Config:
    bind: str = "*"
    port: int = DEFAULT_PORT
    state_file: Path | None = None
    sync: str = "periodic"
    name: str | None = None
    mdns: bool = True
    mdns_interfaces: tuple[str, ...] = ()
    log_level: str = "info"
    curve: bool = False
    allow_clients: Path | None = None
    dns_domain: str | None = None
    dns_server: str | None = None  # ADDRESS[:PORT]; None: the zone's primary, from its SOA
    dns_key: Path | None = None
    #: Where the settings file was read from, if any (for --check-config and SIGHUP).
    config_file: Path | None = field(default=None, compare=False)
    #: Where each setting that is not a default came from, for error messages.
    origins: Mapping[str, str] = field(default_factory=dict, compare=False)

    def origin(self, key: str) -> str:
        """How to name a setting in a message: `--bind`, `PINGD_BIND`, or `bind in FILE`."""
        where = self.origins.get(key, "")
        flag = "--mdns-interface" if key == "mdns_interfaces" else "--" + key.replace("_", "-")
        if where == "command line":
            return flag
        if where == "environment":
            return f"PINGD_{key.upper()}"
        if where:
            return f"{key} in {where}"
        return f"{flag} (default)"

    @property
    def instance_name(self) -> str:
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


# Each key: how to turn a file/env/flag value into the typed value, or raise ValueError.


def _port(value: Any) -> int:
    if isinstance(value, (bool, float)):  # 7464.9 is not a port
        raise ValueError("expected a whole port number")
    port = int(value)
    if not 0 <= port <= 65535:
        raise ValueError(f"{port} is not a port (0-65535; 0 picks a free one)")
    return port


def _choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        text = str(value).lower()
        if text not in options:
            raise ValueError(f"{value!r} is not one of {', '.join(options)}")
        return text

    return check


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


_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,252})")
_DOTTED = re.compile(r"[0-9.]+")  # digits and dots that are not an IPv4 address: a typo


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
            out.append(str(ipaddress.ip_address(text)))
        except ValueError:
            raise ValueError(f"{text!r} is not an IP address (give the interface's address)") from None
    return tuple(out)


def _path(value: Any) -> Path:
    return Path(_text(os.fspath(value) if isinstance(value, os.PathLike) else value)).expanduser()


DNS_PORT: Final = 53


def _domain(value: Any) -> str:
    """A DNS domain (``example.org``; a final dot is dropped): labels of 1-63 bytes."""
    text = _text(value).rstrip(".")
    labels = text.split(".")
    if len(text) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError("not a domain name (labels of letters, digits, - and _, dot-separated)")
    return text


_LABEL = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?")


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
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"{text!r} is not a port (1-65535)")
    return int(text)


PARSERS: Final[dict[str, Callable[[Any], Any]]] = {
    "bind": _bind,
    "port": _port,
    "state_file": _path,
    "sync": _choice(SYNC_MODES),
    "name": _name,
    "mdns": _bool,
    "mdns_interfaces": _interfaces,
    "log_level": _choice(LOG_LEVELS),
    "curve": _bool,
    "allow_clients": _path,
    "dns_domain": _domain,
    "dns_server": _dns_server,
    "dns_key": _path,
}


def _apply(config: Config, values: Mapping[str, Any], origin: str) -> Config:
    changes: dict[str, Any] = {}
    origins = dict(config.origins)
    for key, raw in values.items():
        parser = PARSERS.get(key)
        if parser is None:
            known = ", ".join(sorted(PARSERS))
            raise ConfigError(f"{origin}: unknown setting {key!r} (known: {known})")
        try:
            changes[key] = parser(raw)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{origin}: {key} = {raw!r}: {exc}") from None
        origins[key] = origin
    return replace(config, **changes, origins=origins)


def env_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """The PINGD_* variables that name settings (PINGD_STATE_FILE → state_file)."""
    out = {}
    for key, value in environ.items():
        if key.startswith("PINGD_") and key != "PINGD_CONFIG":
            out[key[len("PINGD_") :].lower()] = value
    return out


def resolve(
    flags: Mapping[str, Any],
    environ: Mapping[str, str],
    file_values: Mapping[str, Any],
    file_origin: str = "config file",
) -> Config:
    """Combine the layers; a None flag means "not given"."""
    config = _apply(Config(), file_values, file_origin)
    config = _apply(config, env_settings(environ), "environment")
    given = {k: v for k, v in flags.items() if v is not None and v != ()}
    config = _apply(config, given, "command line")
    if config.allow_clients is not None and not config.curve:
        raise ConfigError("allow_clients needs curve: add --curve (curve = true), since keys need encryption")
    for key in ("dns_server", "dns_key"):
        if getattr(config, key) is not None and config.dns_domain is None:
            raise ConfigError(f"{config.origin(key)} needs a domain to register in: add --dns-domain")
    return config


def default_config_path(environ: Mapping[str, str]) -> Path:
    directory = environ.get("CONFIGURATION_DIRECTORY")
    if directory:
        return Path(directory.split(":")[0]) / CONFIG_NAME
    from platformdirs import user_config_path

    return user_config_path("pingd") / CONFIG_NAME


#: The largest settings file read (the example pingd.toml is about 3 KiB).
MAX_CONFIG_FILE = 1024 * 1024


def read_file(path: Path, *, required: bool) -> dict[str, Any]:
    from pingd.shared import files

    try:
        values = tomllib.loads(files.read_regular(path, MAX_CONFIG_FILE).decode("utf-8"))
    except FileNotFoundError:
        if required:
            raise ConfigError(f"config file {path}: not found") from None
        return {}
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: not valid TOML ({exc})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path}: not UTF-8 text") from None
    except RecursionError:
        raise ConfigError(f"config file {path}: nested too deeply") from None
    # Accept both a flat file and one with a [pingd] table.
    if set(values) == {"pingd"} and isinstance(values["pingd"], dict):
        values = values["pingd"]
    return {key.replace("-", "_"): value for key, value in values.items()}


def load(flags: Mapping[str, Any], config_path: Path | None = None, environ=None) -> Config:
    """Read every layer and resolve them; raise ConfigError with a one-line reason."""
    environ = os.environ if environ is None else environ
    explicit = config_path or (Path(environ["PINGD_CONFIG"]) if environ.get("PINGD_CONFIG") else None)
    path = explicit or default_config_path(environ)
    file_values = read_file(path, required=explicit is not None)
    config = resolve(flags, environ, file_values, f"config file {path}")
    return replace(config, config_file=path if file_values or explicit else None)


def state_file_path(config: Config, environ: Mapping[str, str] | None = None) -> Path:
    """--state-file, else $PINGD_STATE_FILE (already in config), else systemd's, else the user's."""
    environ = os.environ if environ is None else environ
    if config.state_file is not None:
        return config.state_file
    directory = environ.get("STATE_DIRECTORY")
    if directory:
        return Path(directory.split(":")[0]) / STATE_NAME
    from platformdirs import user_state_path

    return user_state_path("pingd") / STATE_NAME
