"""Whose key to trust: pingctl's own CURVE key pair, and known daemons' keys, trusted on
first use and pinned from then on, as ssh does with known_hosts.

Both live in the user's config directory (``~/.config/pingctl`` on Linux, or
``$PINGCTL_CONFIG_DIR``): ``client.key`` / ``client.key_secret`` and ``known_hosts``, one
line per daemon: ``NODE_ID KEY NAME``.
"""

from __future__ import annotations

import os
from pathlib import Path

from pingd import keys
from pingctl.errors import PingctlError


def config_dir() -> Path:
    override = os.environ.get("PINGCTL_CONFIG_DIR")
    if override:
        return Path(override)
    from platformdirs import user_config_path

    return user_config_path("pingctl")


def client_keys() -> keys.KeyPair:
    try:
        return keys.load_or_create(config_dir(), "client")
    except keys.KeyFileError as exc:
        raise PingctlError(str(exc)) from None


def known_hosts_path() -> Path:
    return config_dir() / "known_hosts"


def check_server_key(node_id: str, name: str, key: str, path: Path | None = None) -> str | None:
    """Trust ``key`` for ``node_id`` if it is the one recorded, or record it if none is.

    Returns a note to show when a key was recorded; raises PingctlError, loudly, when the
    daemon offers a key other than the one recorded.
    """
    path = path or known_hosts_path()
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        lines = []
    except OSError as exc:
        raise PingctlError(f"cannot read {path}: {exc.strerror}") from None
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if len(fields) >= 2 and fields[0] == node_id:
            if fields[1] == key:
                return None
            raise PingctlError(
                f"WARNING: THE KEY OF PINGD '{name}' (node {node_id}) HAS CHANGED. It offers {key}, "
                f"but {path} line {number} records {fields[1]}. Someone may be impersonating it. "
                f"If the key was changed on purpose, delete that line and connect again."
            )
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(path, "a") as f:
            f.write(f"{node_id} {key} {name}\n")
    except OSError as exc:
        raise PingctlError(f"cannot record the key in {path}: {exc.strerror}") from None
    return f"trusting pingd '{name}' (node {node_id}) on first use: key {key} recorded in {path}"
