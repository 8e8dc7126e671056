"""The counter actor: the single owner of the count, one message at a time.

Pure: no sockets, files or clocks. Its API is what the daemon's loop calls: ``ping()`` for
every PING and ``status(now)`` for every STATUS; the loop then persists ``count`` and calls
``commit()`` once the operating system has it, or ``rollback()`` if persisting failed, so an
unpersisted ping is never acknowledged and never counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pingd.shared import protocol
from pingd.shared.protocol import Status


@dataclass(slots=True)
class Identity:
    """What a daemon says about itself in STATUS replies."""

    node_id: str
    name: str
    version: str
    durability: str
    security: str = "plain"  # plain, curve, or curve+allow-list
    public_key: str | None = None  # the daemon's CURVE public key, when encrypted


@dataclass(slots=True)
class CounterActor:
    count: int
    identity: Identity
    started_at: float
    #: Pings acknowledged since this actor started (what STATUS calls pings_served).
    served: int = 0
    #: Why the count cannot be persisted right now, or None when storage is healthy.
    storage_error: str | None = None
    _committed: int = field(init=False)
    _committed_served: int = field(init=False)

    def __post_init__(self) -> None:
        self._committed = self.count
        self._committed_served = self.served

    @property
    def committed(self) -> int:
        """The last count known to be persisted."""
        return self._committed

    @property
    def committed_served(self) -> int:
        """Pings acknowledged since start, as STATUS reports them: never less than before."""
        return self._committed_served

    @property
    def dirty(self) -> bool:
        return self.count != self._committed

    def ping(self) -> int | None:
        """Count one ping; the new total, or None when the count cannot grow any more."""
        if self.count >= protocol.MAX_COUNT:
            return None
        self.count += 1
        self.served += 1
        return self.count

    def status(self, now: float) -> Status:
        """What STATUS answers: the committed count (an unpersisted one is not reported)."""
        return Status(
            count=self._committed,
            node_id=self.identity.node_id,
            name=self.identity.name,
            version=self.identity.version,
            protocol=protocol.VERSION,
            uptime_seconds=round(max(0.0, now - self.started_at), 3),
            pings_served=self.committed_served,
            durability=self.identity.durability,
            storage=self.storage_error or "ok",
            security=self.identity.security,
            curve_public_key=self.identity.public_key,
        )

    def commit(self) -> None:
        """The current count has been handed to the operating system."""
        self._committed = self.count
        self._committed_served = self.served

    def rollback(self) -> None:
        """Persisting failed: forget the pings since the last commit."""
        self.count = self._committed
        self.served = self._committed_served
