"""Whose key to trust: pingctl's own CURVE key pair, and known daemons' keys, trusted on
first use and pinned from then on, as ssh does with known_hosts.

Both live in the user's config directory (``~/.config/pingctl`` on Linux, or
``$PINGCTL_CONFIG_DIR``): ``client.key`` / ``client.key_secret`` and ``known_hosts``, one
line per daemon: ``NODE_ID KEY NAME``. The name comes last, as it may hold spaces; any
character in it that is not printable, and the backslash itself, is written escaped
(``\\x1b``, ``\\u200b``, ``\\\\``), so no name can carry a line break into the file.

Two steps, so that nothing an announcement says is written before it is proven:
``check`` before connecting (a name or node id pinned to another key is refused), and
``record`` only after a CURVE handshake with that key succeeded, that is, after the daemon
showed it holds the secret half. The file is rewritten whole, under a lock on the directory,
into a temporary file renamed over it; it is read only as a regular file of bounded size,
and never through a link.
"""

from __future__ import annotations

import fcntl
import os
import re
from dataclasses import dataclass
from pathlib import Path

from pingctl.errors import PingctlError
from pingctl.show.text import shown
from pingd.shared import files, keys
from pingd.shared.service import is_curve_key, is_node_id

#: The largest known_hosts read (about 8,000 pins).
MAX_KNOWN_HOSTS = 1024 * 1024
_NO_NODE = "-"  # the node id field of a daemon that announced none
_ESCAPED = re.compile(r"\\(\\|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8})")


def config_dir() -> Path:
    override = os.environ.get("PINGCTL_CONFIG_DIR")
    if override:
        return Path(override)
    from platformdirs import user_config_path

    return user_config_path("pingctl")


def client_keys() -> keys.KeyPair:
    try:
        return keys.load_or_create(config_dir(), "client", by="pingctl")
    except keys.KeyFileError as exc:
        raise PingctlError(str(exc)) from None


def key_text(*, cert: bool) -> str:
    """What `pingctl keys show` prints: this client's public key (made on first use), or, with
    ``cert``, a certificate file for a daemon's --allow-clients directory."""
    public = client_keys().public
    return keys.certificate(public, None, by="pingctl") if cert else f"{public}\n"


def known_hosts_path() -> Path:
    return config_dir() / "known_hosts"


@dataclass(frozen=True, slots=True)
class Pin:
    """One line of known_hosts: a daemon's name and node id pinned to its key."""

    node_id: str | None
    key: str
    name: str
    line: int = 0

    def to_line(self) -> str:
        return f"{self.node_id or _NO_NODE} {self.key} {escape_name(self.name)}"


class KeyChanged(PingctlError):
    """A daemon offers a key other than the one pinned for its name or node id."""

    def __init__(self, name: str, node_id: str | None, offered: str, pin: Pin, path: Path) -> None:
        same_name = pin.name.casefold() == name.casefold()
        which = f"pingd '{shown(name)}'" if same_name else f"node {node_id}"
        super().__init__(
            f"WARNING: THE KEY OF {which.upper()} HAS CHANGED: it now offers {offered} "
            f"(as node {node_id or '?'}), but {path} line {pin.line} records {pin.key}. "
            f"Someone may be impersonating it: not connecting. If the key was changed on purpose, "
            f"delete that line and connect again, or give --server-key."
        )
        self.pin = pin
        self.path = path

    @property
    def short(self) -> str:
        """The reason in a few words, for a row of a table."""
        return f"refused: its key differs from {self.path.name} line {self.pin.line}"


class KeyDropped(KeyChanged):
    """A daemon pinned to a key now announces none: connecting would be a plaintext downgrade."""

    def __init__(self, name: str, node_id: str | None, pin: Pin, path: Path) -> None:
        PingctlError.__init__(
            self,
            f"WARNING: PINGD '{shown(name).upper()}' NOW ANNOUNCES NO KEY, but {path} line {pin.line} pins "
            f"{pin.key} (as node {node_id or '?'}). Someone may be offering an unencrypted impostor: not "
            "connecting. If the daemon stopped encrypting on purpose, delete that line and connect again.",
        )
        self.pin = pin
        self.path = path

    @property
    def short(self) -> str:
        return f"refused: it announces no key, but {self.path.name} line {self.pin.line} pins one"


def escape_name(name: str) -> str:
    """``name`` with the backslash and every unprintable character escaped (spaces kept)."""
    out = []
    for char in name:
        if char == "\\":
            out.append("\\\\")
        elif char.isprintable():
            out.append(char)
        else:
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(out)


def unescape_name(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if code == "\\":
            return "\\"
        value = int(code[1:], 16)
        return chr(value) if value < 0x110000 else match.group()

    return _ESCAPED.sub(one, text)


def parse(data: bytes | str) -> list[Pin]:
    """The valid pins in known_hosts, numbered as an editor numbers its lines (split on
    newlines only). Comments, blank lines and anything else that is no pin (junk, text that
    is not UTF-8) are skipped here, and kept byte for byte when the file is rewritten."""
    raw = data.encode("utf-8", errors="surrogateescape") if isinstance(data, str) else data
    pins = []
    for number, chunk in enumerate(raw.split(b"\n"), start=1):
        try:
            line = chunk.decode("utf-8").removesuffix("\r")
        except UnicodeDecodeError:
            continue
        fields = line.split(" ", 2)
        if len(fields) < 2 or line.startswith("#"):
            continue
        node_id, key = fields[0], fields[1]
        if not is_curve_key(key) or not (node_id == _NO_NODE or is_node_id(node_id)):
            continue
        name = unescape_name(fields[2] if len(fields) > 2 else "")
        pins.append(Pin(None if node_id == _NO_NODE else node_id, key, name, number))
    return pins


def _read(path: Path) -> bytes:
    try:
        return files.read_regular(path, MAX_KNOWN_HOSTS, follow=False)
    except FileNotFoundError:
        return b""
    except files.UnusableFile as exc:
        raise PingctlError(
            f"cannot use {path}: it {exc.strerror}; move it away (it holds pinned daemon keys)"
        ) from None
    except OSError as exc:
        raise PingctlError(f"cannot read {path}: {exc.strerror}") from None


def _conflict(pins: list[Pin], name: str, node_id: str | None, key: str) -> Pin | None:
    for pin in pins:
        same_name = pin.name.casefold() == name.casefold()
        same_node = node_id is not None and pin.node_id == node_id
        if (same_name or same_node) and pin.key != key:
            return pin
    return None


def check(name: str, node_id: str | None, key: str, path: Path | None = None) -> bool:
    """Before connecting: True if ``key`` is the one pinned for ``name``, False if the name is
    new (connect, then ``record``). Raises KeyChanged when the name, or the node id, is pinned
    to another key."""
    path = path or known_hosts_path()
    pins = parse(_read(path))
    conflict = _conflict(pins, name, node_id, key)
    if conflict is not None:
        raise KeyChanged(name, node_id, key, conflict, path)
    return any(pin.name.casefold() == name.casefold() for pin in pins)


def check_plain(name: str, node_id: str | None, path: Path | None = None) -> None:
    """Before connecting without encryption to a daemon found by discovery: raises KeyDropped
    when its name, or its node id, is pinned to a key (a downgrade, refused as loudly as a
    changed key)."""
    path = path or known_hosts_path()
    if not path.exists() and not path.is_symlink():
        return
    for pin in parse(_read(path)):
        if pin.name.casefold() == name.casefold() or (node_id is not None and pin.node_id == node_id):
            raise KeyDropped(name, node_id, pin, path)


def record(name: str, node_id: str | None, key: str, path: Path | None = None) -> str | None:
    """After a CURVE handshake with ``key`` succeeded: pin it for ``name`` (and the node id)
    unless pinned already. Returns the note to show when a pin was added."""
    if not is_curve_key(key) or not (node_id is None or is_node_id(node_id)) or not name.strip():
        raise ValueError("record takes a checked name, node id and key")
    path = path or known_hosts_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise PingctlError(f"cannot record the key in {path}: {exc.strerror}") from None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another pingctl recording at the same time waits
        data = _read(path)
        pins = parse(data)
        conflict = _conflict(pins, name, node_id, key)
        if conflict is not None:  # pinned meanwhile, to another key
            raise KeyChanged(name, node_id, key, conflict, path)
        if any(pin.name.casefold() == name.casefold() for pin in pins):
            return None
        if data and not data.endswith(b"\n"):
            data += b"\n"
        data += (Pin(node_id, key, name).to_line() + "\n").encode("utf-8")
        if len(data) > MAX_KNOWN_HOSTS:  # a file pingctl would then refuse to read
            return (
                f"not pinning pingd '{shown(name)}' (key {key}): {path} would grow past "
                f"{MAX_KNOWN_HOSTS} bytes; remove the pins you no longer need"
            )
        files.write_atomically(path, data, 0o644)
    except OSError as exc:
        raise PingctlError(f"cannot record the key in {path}: {exc.strerror}") from None
    finally:
        os.close(lock)
    return f"trusting pingd '{shown(name)}' (node {node_id}) on first use: key {key} recorded in {path}"
