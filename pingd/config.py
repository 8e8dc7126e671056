"""pingd's settings: one Config, resolved as flags > PINGD_* environment > file > defaults.

What each setting is (its type, default, parser, flag, variable, and whether SIGHUP can change
it) is declared once, in pingd.settings; this module combines the layers. Resolution is pure
(``resolve`` takes plain mappings), so every precedence rule is tested without touching the
environment or the disk; ``pingd.configfile.load`` is the thin shell that reads them.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

from pingd.settings import (
    BY_KEY,
    LOG_LEVELS,
    RESTART_ONLY,
    SETTINGS,
    SYNC_MODES,
    Config,
    Setting,
)
from pingd.shared.cut import cut
from pingd.shared.protocol import DEFAULT_PORT
from pingd.values import DNS_PORT, dns_server_address

__all__ = [
    "BY_KEY",
    "CONFIG_NAME",
    "DEFAULT_PORT",
    "DNS_PORT",
    "LOG_LEVELS",
    "PARSERS",
    "RESTART_ONLY",
    "SETTINGS",
    "STATE_NAME",
    "SYNC_MODES",
    "Config",
    "ConfigError",
    "Setting",
    "dns_server_address",
    "env_settings",
    "resolve",
    "state_file_path",
]

CONFIG_NAME: Final = "pingd.toml"
STATE_NAME: Final = "state.json"


class ConfigError(Exception):
    """A setting that cannot be used; the message names where it came from."""


#: Each setting's parser, by key.
PARSERS: Final[Mapping[str, Callable[[Any], Any]]] = {declared.key: declared.parse for declared in SETTINGS}
_BY_ENV: Final = {declared.env: declared.key for declared in SETTINGS}


def _apply(config: Config, values: Mapping[str, Any], origin: str) -> Config:
    changes: dict[str, Any] = {}
    origins = dict(config.origins)
    for key, raw in values.items():
        parser = PARSERS.get(key)
        if parser is None:
            if origin == "environment":  # named as set: PINGD_PORTT, not 'portt'
                known = ", ".join(sorted(_BY_ENV))
                raise ConfigError(f"{cut(key)}: no such setting (pingd reads {known}, and PINGD_CONFIG)")
            known = ", ".join(sorted(PARSERS))
            raise ConfigError(f"{origin}: unknown setting {cut(repr(key))} (known: {known})")
        try:
            if isinstance(raw, int) and raw.bit_length() > 64:  # no setting takes one; str() balks at some
                raise ValueError("too large a number for any setting")
            changes[key] = parser(raw)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{as_given(key, raw, origin)}: {cut(str(exc))}") from None
        origins[key] = origin
    return replace(config, **changes, origins=origins)


def as_given(key: str, raw: Any, origin: str) -> str:
    """A setting as the user wrote it, for a message: ``--port 70000``, ``PINGD_PORT='1.5'``,
    ``port = "oops" in config file F`` (a repeatable flag by its name alone: the message
    names the value)."""
    declared = BY_KEY[key]
    if origin == "command line":
        if isinstance(raw, tuple):
            return declared.flag
        text = str(raw)  # as typed, unless it holds what a terminal would act on
        return f"{declared.flag} {cut(text if text.isprintable() else repr(text))}"
    if origin == "environment":
        return f"{declared.env}={cut(repr(raw))}"
    return f"{key} = {cut(_as_toml(raw))} in {origin}"


def _as_toml(value: Any) -> str:
    """``value`` as TOML writes it (true, "text", [1, 2], {a = 1}, 1979-05-27)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and value.bit_length() > 14_000:  # past str()'s 4,300 digits
        return "a number of thousands of digits"
    if isinstance(value, str):
        return json.dumps(value)  # TOML's basic strings escape as JSON's do
    if isinstance(value, list):
        return "[" + ", ".join(_as_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_as_toml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return repr(value)


def env_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """The PINGD_* variables that name settings (PINGD_STATE_FILE → state_file); any other
    PINGD_* variable under its own name, which no setting has, so that it is refused by it."""
    out = {}
    for name, value in environ.items():
        if name.startswith("PINGD_") and name != "PINGD_CONFIG":
            out[_BY_ENV.get(name, name)] = value
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
    if config.mdns_backend == "avahi" and (loopback := _loopback((*config.mdns_interfaces, config.bind))):
        raise ConfigError(
            f"{config.origin('mdns_backend')} cannot announce on {loopback}: avahi-daemon never uses loopback "
            "(use --mdns-backend zeroconf, or another --mdns-interface or --bind)"
        )
    for key in ("dns_server", "dns_key"):
        if getattr(config, key) is not None and config.dns_domain is None:
            raise ConfigError(f"{config.origin(key)} needs a domain to register in: add --dns-domain")
    if _metrics_on_serving_port(config):
        raise ConfigError(
            f"{config.origin('metrics')}: port {config.port} is the port pingd serves pings on "
            f"(its {config.origin('port').removesuffix(' (default)')}); give the metrics another port"
        )
    return config


def _metrics_on_serving_port(config: Config) -> bool:
    """Whether the metrics would be served where the serving socket listens, same port and
    overlapping addresses (one of the two binds would fail, and its message would blame the
    other setting). A bind to a host or interface name is left to the binds themselves."""
    metrics = config.metrics_address
    if metrics is None or config.port == 0 or metrics[1] != config.port:
        return False
    serving, served = _bound(config.bind), _bound(metrics[0])
    if serving is None or served is None:
        return False
    (serving_families, serving_address), (served_families, served_address) = serving, served
    if not serving_families & served_families:
        return False
    return serving_address is None or served_address is None or serving_address == served_address


def _bound(text: str) -> tuple[frozenset[int], str | None] | None:
    """What a bind to ``text`` takes: its address families and its address (None: every
    address of those families); None for a name, which only the bind resolves. Linux binds
    ``::`` dual-stack, and an IPv4-mapped address is its IPv4 one."""
    if text == "*":
        return frozenset({4, 6}), None
    try:
        ip = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified:
        return (frozenset({4, 6}) if ip.version == 6 else frozenset({4})), None
    return frozenset({ip.version}), str(ip)


def _loopback(addresses: tuple[str, ...]) -> str | None:
    """The first loopback address among ``addresses`` (a ``--bind`` of * or a name is none)."""
    for text in addresses:
        try:
            if ipaddress.ip_address(text.strip("[]")).is_loopback:
                return text
        except ValueError:
            continue
    return None


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
