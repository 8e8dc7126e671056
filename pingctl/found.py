"""A daemon as DNS-SD describes it, found over mDNS or in a DNS domain."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pingctl.client import Target


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
    domain: str = "local"  # where it was found: "local" (mDNS) or the DNS domain browsed

    def targets(self, server_key: str | None = None) -> list[Target]:
        key = server_key or self.curve_key
        return [Target(a, self.port, name=self.name, node_id=self.node_id, server_key=key) for a in self.addresses]

    def as_dict(self) -> dict:
        data = asdict(self)
        data["addresses"] = list(self.addresses)
        return data
