"""The system resolver's settings, read as the C library reads them (resolv.conf(5)).

pingctl needs two things from them: the search domains, under which the network may suggest
browse domains (RFC 6763 §11), and the name servers to ask. Read here, in a few lines,
rather than through dnspython's resolver, whose import costs pingctl ~20 ms of every start.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

RESOLV_CONF = Path("/etc/resolv.conf")
#: The C library's default when resolv.conf names no server.
DEFAULT_NAMESERVERS = ("127.0.0.1",)


@dataclass(frozen=True, slots=True)
class ResolverSettings:
    nameservers: tuple[str, ...]
    search: tuple[str, ...]


def parse(text: str, environ: Mapping[str, str], hostname: str) -> ResolverSettings:
    """``nameserver`` lines (IP addresses, in order); the search list: ``LOCALDOMAIN`` if set
    (even empty), else the last ``search`` or ``domain`` line, else the host name's domain."""
    nameservers: list[str] = []
    words: list[str] | None = None
    for line in text.splitlines():
        fields = line.split()
        if not fields or fields[0].startswith(("#", ";")):
            continue
        if fields[0] == "nameserver" and len(fields) > 1:
            address = fields[1].split("%")[0]
            try:
                nameservers.append(str(ipaddress.ip_address(address)))
            except ValueError:
                continue
        elif fields[0] in ("search", "domain"):
            words = fields[1:]
    if "LOCALDOMAIN" in environ:
        words = environ["LOCALDOMAIN"].split()
    elif words is None:
        _, _, domain = hostname.partition(".")
        words = [domain] if domain else []
    search = tuple(dict.fromkeys(w.rstrip(".") for w in words if w.rstrip(".")))
    return ResolverSettings(tuple(nameservers) or DEFAULT_NAMESERVERS, search)


def read(environ: Mapping[str, str] | None = None, path: Path = RESOLV_CONF) -> ResolverSettings:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        text = ""
    return parse(text, os.environ if environ is None else environ, socket.gethostname())
