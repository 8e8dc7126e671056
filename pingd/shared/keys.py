"""CURVE key files, shared by pingd and pingctl.

Keys are stored as ZeroMQ certificate files (the format of pyzmq's ``zmq.auth``): ``NAME.key``
holds the public key, ``NAME.key_secret`` both, created with mode 0600 and never logged.
An allow-list directory holds one public key per file, either such a certificate or a file
with just the 40-character Z85 key (what ``pingctl keys show`` prints).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pingd.shared import files
from pingd.shared.service import is_curve_key

KEY_LENGTH = 40
#: The largest key or certificate file read (a certificate is about 200 bytes).
MAX_KEY_FILE = 4096


class KeyFileError(Exception):
    """A key file that cannot be read or written; the message names it."""


def is_key(text: str) -> bool:
    """A CURVE key in Z85: 40 characters of the Z85 alphabet."""
    return is_curve_key(text)


@dataclass(frozen=True, slots=True)
class KeyPair:
    public: str
    secret: str = ""  # never printed: the dataclass repr is not used for logs

    def __repr__(self) -> str:
        return f"KeyPair(public={self.public!r})"


def certificate(public: str, secret: str | None, by: str = "pingd") -> str:
    """A certificate in ZeroMQ's zcert layout; ``by`` names the program whose key it is."""
    lines = [f"#   ZeroMQ CURVE certificate (written by {by})", "metadata", "curve", f'    public-key = "{public}"']
    if secret:
        lines.append(f'    secret-key = "{secret}"')
    return "\n".join(lines) + "\n"


def read_certificate(path: Path) -> tuple[str | None, str | None]:
    """(public, secret) from a certificate file, or a bare key file's one key as public."""
    text = files.read_regular(path, MAX_KEY_FILE).decode("utf-8", errors="replace")
    public = secret = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("public-key"):
            public = line.split("=", 1)[1].strip(" \t'\"")
        elif line.startswith("secret-key"):
            secret = line.split("=", 1)[1].strip(" \t'\"")
    if public is None and is_key(text.strip()):
        public = text.strip()
    return public, secret


def load_or_create(directory: Path, name: str, by: str = "pingd") -> KeyPair:
    """The key pair NAME in ``directory``, made on first use (secret file mode 0600) by the
    program ``by``."""
    import zmq

    secret_path = directory / f"{name}.key_secret"
    public_path = directory / f"{name}.key"
    try:
        if not secret_path.exists():
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            public_b, secret_b = zmq.curve_keypair()
            public, secret = public_b.decode(), secret_b.decode()
            try:
                files.publish_exclusive(secret_path, certificate(public, secret, by).encode(), 0o600)
            except FileExistsError:
                pass  # made meanwhile by another process: use that pair
            else:
                files.write_atomically(public_path, certificate(public, None, by).encode(), 0o644)
                return KeyPair(public, secret)
        return _read_pair(secret_path)
    except OSError as exc:
        raise KeyFileError(f"key file {secret_path}: {exc.strerror or exc}") from None


def load(directory: Path, name: str) -> KeyPair:
    """The key pair NAME in ``directory``, never made: for a reader of another's files (the
    service's, read by hand), where a pair made now would not be the one that is served."""
    secret_path = directory / f"{name}.key_secret"
    try:
        return _read_pair(secret_path)
    except FileNotFoundError:
        raise KeyFileError(f"key file {secret_path} does not exist") from None
    except OSError as exc:
        raise KeyFileError(f"key file {secret_path}: {exc.strerror or exc}") from None


def _read_pair(secret_path: Path) -> KeyPair:
    """Both keys of an existing secret file; a file that lacks either is refused, never replaced."""
    found_public, found_secret = read_certificate(secret_path)
    if not (found_public and found_secret and is_key(found_public) and is_key(found_secret)):
        raise KeyFileError(
            f"key file {secret_path}: not a CURVE certificate with both keys; move it away to make a new pair"
        )
    return KeyPair(found_public, found_secret)


def read_allowed(directory: Path) -> tuple[set[str], list[str]]:
    """Public keys in an allow-list directory, and one problem line per unusable file."""
    allowed: set[str] = set()
    problems: list[str] = []
    try:
        entries = sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))
    except OSError as exc:
        raise KeyFileError(f"allow-list {directory}: {exc.strerror or exc}") from None
    for path in entries:
        try:
            public, _ = read_certificate(path)
        except OSError as exc:
            problems.append(f"{path}: {exc.strerror}")
            continue
        if public and is_key(public):
            allowed.add(public)
        else:
            problems.append(f"{path}: no CURVE public key in it")
    return allowed, problems
