"""Reading pingd's settings: the settings file and the process environment, then ``resolve``.

The thin shell around ``pingd.config``, which combines the layers without touching the disk
or the environment; this module is what touches them.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

from pingd.config import CONFIG_NAME, Config, ConfigError, resolve

__all__ = ["MAX_CONFIG_FILE", "default_config_path", "load", "read_file"]

#: The largest settings file read (the example pingd.toml is about 3 KiB).
MAX_CONFIG_FILE: Final = 1024 * 1024


def default_config_path(environ: Mapping[str, str]) -> Path:
    directory = environ.get("CONFIGURATION_DIRECTORY")
    if directory:
        return Path(directory.split(":")[0]) / CONFIG_NAME
    from platformdirs import user_config_path

    return user_config_path("pingd") / CONFIG_NAME


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


def load(flags: Mapping[str, Any], config_path: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read every layer and resolve them; raise ConfigError with a one-line reason."""
    environ = os.environ if environ is None else environ
    explicit = config_path or (Path(environ["PINGD_CONFIG"]) if environ.get("PINGD_CONFIG") else None)
    path = explicit or default_config_path(environ)
    file_values = read_file(path, required=explicit is not None)
    config = resolve(flags, environ, file_values, f"config file {path}")
    return replace(config, config_file=path if file_values or explicit else None)
