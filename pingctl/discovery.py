"""Finding pingd daemons on the LAN by DNS-SD over mDNS (``_pingd._tcp.local.``).

``find`` returns as soon as the first usable answer arrives (one daemon on the network: no
fixed wait); ``browse`` collects every answer for a set time, as ``avahi-browse -t`` does.
Imported only on the discovery path: zeroconf costs start-up time that address-given
commands should not pay.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

from zeroconf import IPVersion, ServiceBrowser, ServiceStateChange, Zeroconf

from pingd.announce import SERVICE_TYPE
from pingctl.client import Target
from pingctl.errors import PingctlError


@dataclass(frozen=True, slots=True)
class Found:
    """One daemon as DNS-SD describes it."""

    name: str
    host: str
    addresses: tuple[str, ...]
    port: int
    node_id: str | None
    version: str | None
    protocol: str | None
    curve_key: str | None = None  # announced when the daemon serves only encrypted clients

    def targets(self, server_key: str | None = None) -> list[Target]:
        key = server_key or self.curve_key
        return [Target(a, self.port, name=self.name, node_id=self.node_id, server_key=key) for a in self.addresses]

    def as_dict(self) -> dict:
        data = asdict(self)
        data["addresses"] = list(self.addresses)
        return data


def instance_name(full_name: str) -> str:
    return full_name.removesuffix("." + SERVICE_TYPE)


def _open(interfaces: tuple[str, ...]) -> Zeroconf:
    try:
        if interfaces:
            return Zeroconf(interfaces=list(interfaces))
        return Zeroconf(ip_version=IPVersion.V4Only)
    except (OSError, ValueError) as exc:
        raise PingctlError(
            f"cannot start mDNS discovery ({exc}); give the daemon's address with --server-ip/--port"
        ) from None


def _resolve(zc: Zeroconf, full_name: str, timeout: float) -> Found | None:
    info = zc.get_service_info(SERVICE_TYPE, full_name, timeout=max(1, int(timeout * 1000)))
    if info is None or not info.port:
        return None
    addresses = tuple(info.parsed_scoped_addresses(IPVersion.All))
    if not addresses:
        return None
    props = {k.decode(errors="replace"): (v or b"").decode(errors="replace") for k, v in info.properties.items()}
    return Found(
        name=instance_name(full_name),
        host=(info.server or "").rstrip("."),
        addresses=tuple(sorted(addresses, key=lambda a: (":" in a, a))),
        port=info.port,
        node_id=props.get("id"),
        version=props.get("ver"),
        protocol=props.get("pv"),
        curve_key=props.get("ck") or None,
    )


@contextmanager
def _browsing(interfaces: tuple[str, ...]) -> Iterator[tuple[Zeroconf, _Events]]:
    """A zeroconf instance browsing for pingd, its events in a queue; closed on exit."""
    zc = _open(interfaces)
    events = _Events()
    try:
        browser = ServiceBrowser(zc, SERVICE_TYPE, handlers=[events])
        try:
            yield zc, events
        finally:
            browser.cancel()
    finally:
        zc.close()


class _Events:
    """Browser callbacks (on zeroconf's thread) into a queue the caller's thread reads."""

    def __init__(self) -> None:
        self.queue: queue.Queue[tuple[str, ServiceStateChange]] = queue.Queue()

    def __call__(self, zeroconf, service_type, name, state_change) -> None:
        self.queue.put((name, state_change))

    def until(self, deadline: float) -> Iterator[tuple[str, ServiceStateChange]]:
        """The events as they come, until the monotonic ``deadline``."""
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                yield self.queue.get(timeout=remaining)
            except queue.Empty:
                return


def find(
    name: str | None, timeout: float, interfaces: tuple[str, ...] = ()
) -> tuple[Found, list[Found]]:
    """The first daemon to answer (or the one called ``name``), and the others seen by then."""
    deadline = time.monotonic() + timeout
    with _browsing(interfaces) as (zc, events):
        for full_name, change in events.until(deadline):
            if change is ServiceStateChange.Removed:
                continue
            if name is not None and instance_name(full_name).lower() != name.lower():
                continue
            found = _resolve(zc, full_name, max(0.001, deadline - time.monotonic()))
            if found is not None:
                others = _seen_so_far(zc, events, exclude=full_name) if name is None else []
                return found, others
    what = f"no pingd named '{name}'" if name else "no pingd"
    raise PingctlError(
        f"{what} found by mDNS within {timeout:g} s; mDNS may be blocked on this network: "
        "give the address with --server-ip/--port, or raise --discovery-timeout"
    )


def _seen_so_far(zc: Zeroconf, events: _Events, exclude: str) -> list[Found]:
    """Daemons that answered alongside the chosen one, resolved from what is cached."""
    names = set()
    while True:
        try:
            full_name, change = events.queue.get_nowait()
        except queue.Empty:
            break
        if change is not ServiceStateChange.Removed and full_name != exclude:
            names.add(full_name)
    found = (_resolve(zc, n, 0.05) for n in sorted(names))
    return [f for f in found if f is not None]


def browse(timeout: float, interfaces: tuple[str, ...] = ()) -> list[Found]:
    """Every daemon that answers within ``timeout`` seconds and has not said goodbye."""
    deadline = time.monotonic() + timeout
    present: dict[str, Found | None] = {}
    with _browsing(interfaces) as (zc, events):
        for full_name, change in events.until(deadline):
            if change is ServiceStateChange.Removed:
                present.pop(full_name, None)
            else:
                present[full_name] = None
        for full_name in present:
            present[full_name] = _resolve(zc, full_name, 0.5)
    return sorted((f for f in present.values() if f is not None), key=lambda f: f.name.lower())
