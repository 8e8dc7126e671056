"""The grammar of each setting's value: a parser per kind, turning a flag, environment or file
value into the typed value or raising ValueError that says what is wanted. ``pingd.settings``
declares which setting takes which.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

DNS_PORT: Final = 53
#: The port the documents suggest for ``metrics``: beside pingd's own, and outside the range
#: Prometheus' list of default exporter ports allocates (docs/operating.md, "Metrics").
METRICS_PORT: Final = 7465


def port(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):  # from TOML
        number = value
    elif isinstance(value, str) and (text := value.strip()).isascii() and text.isdigit():
        if len(text.lstrip("0")) > 5:
            raise ValueError(
                f"{text[:12]}{'...' if len(text) > 12 else ''} is not a port (0-65535; 0 picks a free one)"
            )
        number = int(text)
    else:  # 7464.9, "oops", [7464], full-width digits, 1_000: Python's int() would say too little or take them
        raise ValueError("expected a whole port number")
    if not 0 <= number <= 65535:
        raise ValueError(f"{number} is not a port (0-65535; 0 picks a free one)")
    return number


@dataclass(frozen=True, slots=True)
class OneOf:
    """A parser that takes one of ``options``, in any case."""

    options: tuple[str, ...]

    def __call__(self, value: Any) -> str:
        text = str(value).lower()
        if text not in self.options:
            raise ValueError(f"{value!r} is not one of {', '.join(self.options)}")
        return text


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{value!r} is not true or false")


def nonempty_text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a non-empty string")
    return value.strip()


def instance_name(value: Any) -> str:
    """The grammar pingctl holds announced names to (``service.instance_name_problem``), so
    that pingd never announces a name its clients refuse."""
    from pingd.shared.service import instance_name_problem

    text = nonempty_text(value)
    problem = instance_name_problem(text)
    if problem is not None:
        raise ValueError(problem)
    return text


_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,252})")
_DOTTED = re.compile(r"[0-9.]+")  # digits and dots that are not an IPv4 address: a typo
_LABEL = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?")


def bind_address(value: Any) -> str:
    """`*`, an IPv4 or IPv6 address (brackets allowed), or an interface or host name."""
    text = nonempty_text(value)
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


def interface_addresses(value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise ValueError("expected a list of interface addresses")
    out = []
    if items and all(isinstance(item, str) and not item.strip() for item in items):  # never "every interface" by a slip
        raise ValueError("an empty interface address: give the address of the interface to announce on")
    for item in items:
        if not str(item).strip():
            continue  # "a,,b": a slip between two addresses
        text = nonempty_text(item)
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


def path(value: Any) -> Path:
    return Path(nonempty_text(os.fspath(value) if isinstance(value, os.PathLike) else value)).expanduser()


def domain(value: Any) -> str:
    """A DNS domain (``example.org``; a final dot is dropped): labels of 1-63 bytes."""
    text = nonempty_text(value).rstrip(".")
    labels = text.split(".")
    if len(text) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError("not a domain name (labels of letters, digits, - and _, dot-separated)")
    return text


def dns_server(value: Any) -> str:
    dns_server_address(nonempty_text(value))
    return nonempty_text(value)


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


def metrics_endpoint(value: Any) -> str:
    if not isinstance(value, str):  # metrics = 7465 in the file: a port alone is not where
        raise ValueError(f'expected ADDRESS:PORT in quotes, such as "127.0.0.1:{METRICS_PORT}"')
    host, port = metrics_address(nonempty_text(value))
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def metrics_address(text: str) -> tuple[str, int]:
    """``ADDR:PORT``, ``[V6]:PORT`` or ``*:PORT`` (every interface) → (host, port); the
    address is a literal, so the metrics are served exactly where the setting says."""
    host, colon, number = text.rpartition(":")
    if not colon or not host:
        raise ValueError(f"expected ADDRESS:PORT, such as 127.0.0.1:{METRICS_PORT} ([::1]:PORT, *:PORT)")
    if host != "*":
        if host.startswith("[") != host.endswith("]") or (":" in host and not host.startswith("[")):
            if _is_ipv6(host.strip("[]")) or _is_ipv6(text.strip("[]")):
                raise ValueError("write an IPv6 address in brackets: [::1]:PORT")
            raise ValueError(f"expected one ADDRESS:PORT, such as 127.0.0.1:{METRICS_PORT} ([::1]:PORT, *:PORT)")
        try:
            host = str(ipaddress.ip_address(host.strip("[]")))
        except ValueError:
            raise ValueError(f"{host!r} is not an IP address (or * for every interface)") from None
    if not (number.isascii() and number.isdigit()) or not 0 <= int(number) <= 65535:
        raise ValueError(f"{number!r} is not a port (0-65535; 0 picks a free one)")
    return host, int(number)


_DECIMAL: Final = re.compile(r"[+-]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?|inf|infinity|nan)", re.I)


@dataclass(frozen=True, slots=True)
class Seconds:
    """A parser of a duration in seconds, ``low`` to ``high`` (a number; "10" and 10 alike)."""

    low: float
    high: float

    def __call__(self, value: Any) -> float:
        if isinstance(value, bool) or (isinstance(value, str) and not _DECIMAL.fullmatch(value.strip())):
            raise ValueError("expected a number of seconds")  # float() takes "１０", "1_0" and "nan"
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            raise ValueError("expected a number of seconds") from None
        if not math.isfinite(seconds) or not self.low <= seconds <= self.high:
            raise ValueError(f"{_cut(repr(value))} is not {self.low:g}-{self.high:g} seconds")
        return seconds


@dataclass(frozen=True, slots=True)
class Whole:
    """A parser of a whole number ``low`` to ``high``."""

    low: int
    high: int

    def __call__(self, value: Any) -> int:
        if isinstance(value, (bool, float)):
            raise ValueError("expected a whole number")
        text = str(value).strip()
        digits = text.isascii() and text.isdigit() and len(text) <= 18
        if not digits or not self.low <= int(text) <= self.high:
            raise ValueError(f"{text if digits else _cut(repr(value))} is not a whole number {self.low}-{self.high}")
        return int(text)


def _is_ipv6(text: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(text), ipaddress.IPv6Address)
    except ValueError:
        return False


def _cut(text: str, most: int = 40) -> str:
    return text if len(text) <= most else f"{text[:most]}..."
