"""Reading pingd's settings: the settings file and the process environment, then ``resolve``.

The thin shell around ``pingd.config``, which combines the layers without touching the disk
or the environment; this module is what touches them. It also knows where the installed
service keeps its files: run by hand on a host that has the pingd service, ``--check-config``
and ``--print-dns-records`` read the service's settings and state, as ``nginx -t`` reads
/etc/nginx, rather than the files of a pingd the user would start by hand.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

from pingd.config import CONFIG_NAME, Config, ConfigError, resolve

__all__ = [
    "MAX_CONFIG_FILE",
    "SERVICE_DIRECTORIES",
    "SERVICE_UNITS",
    "Unreadable",
    "default_config_path",
    "load",
    "read_file",
    "service_environment",
    "settings_path",
    "sources",
]

#: The largest settings file read (the example pingd.toml is about 3 KiB).
MAX_CONFIG_FILE: Final = 1024 * 1024

#: What systemd gives the service (packaging/systemd/pingd.service: ConfigurationDirectory=pingd,
#: StateDirectory=pingd, whose real directory is /var/lib/private/pingd under DynamicUser=yes).
SERVICE_DIRECTORIES: Final = {"CONFIGURATION_DIRECTORY": "/etc/pingd", "STATE_DIRECTORY": "/var/lib/pingd"}
#: Where a host that has the service keeps its unit: the package's in /lib, packaging/install's in /etc.
SERVICE_UNITS: Final = tuple(
    Path(directory) / "pingd.service"
    for directory in ("/etc/systemd/system", "/run/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system")
)
_SYSTEMD: Final = tuple(SERVICE_DIRECTORIES)


class Unreadable(ConfigError):
    """A settings file that is there, but that this user may not read."""


def service_environment(environ: Mapping[str, str]) -> dict[str, str] | None:
    """``environ`` with the service's directories, as systemd passes them to it, when this host
    has the pingd service and the command does not already run under systemd; else None."""
    if any(name in environ for name in _SYSTEMD) or not any(os.path.lexists(unit) for unit in SERVICE_UNITS):
        return None
    return {**environ, **SERVICE_DIRECTORIES}


def default_config_path(environ: Mapping[str, str]) -> Path:
    directory = environ.get("CONFIGURATION_DIRECTORY")
    if directory:
        return Path(directory.split(":")[0]) / CONFIG_NAME
    from platformdirs import user_config_path

    return user_config_path("pingd") / CONFIG_NAME


def settings_path(config_path: Path | None, environ: Mapping[str, str]) -> tuple[Path, str]:
    """The settings file to read, and how it was chosen: ``--config``, ``$PINGD_CONFIG``, or
    ``default`` (a default file may be absent; a named one must exist)."""
    if config_path is not None:
        return config_path, "--config"
    if environ.get("PINGD_CONFIG"):
        return Path(environ["PINGD_CONFIG"]), "$PINGD_CONFIG"
    return default_config_path(environ), "default"


def read_file(path: Path, *, required: bool) -> dict[str, Any] | None:
    """The settings in ``path``; None when there is no file there and none is ``required``."""
    from pingd.shared import files

    try:
        # utf-8-sig: a byte-order mark, as some editors write one, is no setting.
        values = tomllib.loads(files.read_regular(path, MAX_CONFIG_FILE).decode("utf-8-sig"))
    except FileNotFoundError:
        if os.path.islink(path):  # someone meant a file to be there: never read as "no settings"
            raise ConfigError(f"config file {path}: a link to {os.readlink(path)}, which does not exist") from None
        if required:
            raise ConfigError(f"config file {path}: not found") from None
        return None
    except PermissionError as exc:
        raise Unreadable(f"config file {path}: {exc.strerror}") from None
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: not valid TOML ({exc})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path}: not UTF-8 text") from None
    except ValueError:  # tomllib's int() on a number of over 4,300 digits
        raise ConfigError(f"config file {path}: a number too long to be any setting's value") from None
    except RecursionError:
        raise ConfigError(f"config file {path}: nested too deeply") from None
    # Accept both a flat file and one with a [pingd] table.
    if set(values) == {"pingd"} and isinstance(values["pingd"], dict):
        values = values["pingd"]
    return {key.replace("-", "_"): value for key, value in values.items()}


def load(flags: Mapping[str, Any], config_path: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read every layer and resolve them; raise ConfigError with a one-line reason.
    ``config_file`` is the settings file read, or None when there was none to read."""
    environ = os.environ if environ is None else environ
    path, how = settings_path(config_path, environ)
    file_values = read_file(path, required=how != "default")
    config = resolve(flags, environ, file_values or {}, f"config file {path}")
    return replace(config, config_file=None if file_values is None else path)


def sources(
    config: Config, config_path: Path | None, environ: Mapping[str, str], state_path: Path, *, service: bool
) -> str:
    """One line naming the files a command reads and whose they are (the service's, systemd's,
    the user's own, or a flag's), so that nobody mistakes one pingd's files for another's."""
    path, how = settings_path(config_path, environ)
    under_systemd = any(name in environ for name in _SYSTEMD)
    default = "the pingd service's" if service else "systemd's" if under_systemd else "yours"
    whose = default if how == "default" else how
    if config.config_file is None:
        settings = f"no settings file ({whose} would be {path})"
    else:
        settings = f"settings {path} ({whose})"
    state_whose = config.origin("state_file") if config.state_file is not None else default
    line = f"{settings}, state file {state_path} ({state_whose})"
    return line + ("; --config and --state-file name others" if service else "")
