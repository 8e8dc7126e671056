"""The values pingctl's parts hand each other: where a daemon is (``Target``) and what one ping
came to (``PingResult``).

Plain data, no sockets: the observer, the renderers and discovery use them without loading
ZeroMQ. ``pingctl.client`` re-exports both, as the client makes and returns them.
"""

from __future__ import annotations

from dataclasses import dataclass

from pingd.shared import addresses


@dataclass(frozen=True, slots=True)
class Target:
    """Where a daemon is: a concrete address and port, plus what discovery said of it."""

    address: str
    port: int
    name: str | None = None
    node_id: str | None = None
    server_key: str | None = None  # the daemon's CURVE public key: connect encrypted

    @property
    def endpoint(self) -> str:
        return addresses.endpoint(self.address, self.port)

    @property
    def display(self) -> str:
        return addresses.host_port(self.address, self.port)


@dataclass(slots=True)  # not frozen: one is made per ping, and frozen ones are slower to make
class PingResult:
    """One ping's fate: a pong (rtt_ms and count), an error reply, or nothing (lost)."""

    seq: int
    rtt_ms: float | None = None
    count: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.rtt_ms is not None and self.error is None
