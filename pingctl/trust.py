"""Whose key to trust: pingctl's own CURVE key pair, and known daemons' keys, trusted on
first use and pinned from then on, as ssh does with known_hosts.

Both live in the user's config directory (``~/.config/pingctl`` on Linux, or
``$PINGCTL_CONFIG_DIR``): ``client.key`` / ``client.key_secret`` and ``known_hosts``, one
line per daemon: ``NODE_ID KEY NAME`` (the name last, as it may hold spaces).
"""

from __future__ import annotations

import os
from pathlib import Path

from pingctl.errors import PingctlError
from pingctl.text import shown
from pingd import keys


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


def check_server_key(name: str, node_id: str | None, key: str, path: Path | None = None) -> str | None:
    """Trust ``key`` for the daemon called ``name`` if it is the key recorded for that name,
    or record it if the name is new.

    Pins are keyed on the name (the one the user asked for, or the one announced), as ssh keys
    known_hosts on the host name the user typed, and on the node id as well: the node id
    travels in an unauthenticated TXT record, so an impostor can choose it, but not the name's
    recorded key. Returns a note to show when a key was recorded; raises PingctlError, loudly,
    when the name or the node id is known with another key.
    """
    path = path or known_hosts_path()
    name = shown(name)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        lines = []
    except OSError as exc:
        raise PingctlError(f"cannot read {path}: {exc.strerror}") from None
    name_known = False
    for number, line in enumerate(lines, start=1):
        fields = line.split(maxsplit=2)
        if len(fields) < 2:
            continue
        recorded_id, recorded_key = fields[0], fields[1]
        recorded_name = fields[2] if len(fields) == 3 else ""
        same_name = recorded_name.casefold() == name.casefold()
        same_node = node_id is not None and recorded_id == node_id
        if not (same_name or same_node):
            continue
        if recorded_key != key:
            which = f"pingd '{name}'" if same_name else f"node {node_id}"
            raise PingctlError(
                f"WARNING: THE KEY OF {which.upper()} HAS CHANGED: it now offers {key} "
                f"(as node {node_id or '?'}), but {path} line {number} records {recorded_key}. "
                f"Someone may be impersonating it: not connecting. If the key was changed on purpose, "
                f"delete that line and connect again, or give --server-key."
            )
        name_known = name_known or same_name
    if name_known:
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{node_id or '-'} {key} {name}\n")
    except OSError as exc:
        raise PingctlError(f"cannot record the key in {path}: {exc.strerror}") from None
    return f"trusting pingd '{name}' (node {node_id}) on first use: key {key} recorded in {path}"
