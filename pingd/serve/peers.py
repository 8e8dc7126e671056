"""Which peers to evict when descriptors run short: the bookkeeping and the choice, pure.

Every connection holds a descriptor, and a peer that finishes the ZeroMQ handshake and then
says nothing holds it for good: libzmq answers its heartbeats, so neither the handshake limit
nor the heartbeat timeout drops it. When descriptors run short, pingd therefore evicts peers
that have not earned theirs:

- a peer that has sent no request ``NEW_IDLE`` after it was accepted, plus a few of its round
  trips (``allowance``): a real client sends its first request as soon as the handshake is done
  (a DEALER queues it before connecting), one round trip after the accept in plain text and
  three with CURVE;
- a peer whose latest request is ``QUIET_IDLE`` old: longer than pingctl's default interval
  (2 s), so a client that keeps pinging keeps its connection.

Those that never spoke go first, then the quiet ones; within each, the longest silent first;
and only as many as asked. A client evicted while idle loses nothing: its DEALER reconnects
on its own and sends its next request over the new connection (only a request crossing the
eviction is lost, and a Lazy Pirate client sends another).

Why ``NEW_IDLE`` is short: evicted peers reconnect at once (a DEALER retries after 100 ms),
so under a flood the listen backlog is full again a moment after each eviction, and a real
client gets in only in those moments; the sooner idle peers go, the more such moments. Measured
here with 512 idle peers that reconnect against a limit of 256, a client retrying every 0.5 s
(a fresh connection each time) was first answered, in a flood's steady state, after 4.0 s
(4 runs of 4) with idle peers held 1 s, 0.5–2.6 s with 0.75 s, and 0.9 s (4 of 4) with 0.5 s.

The table holds what the I/O side tells it (accepted, closed, heard a request) and knows no
sockets or clocks, so the policy is tested without any.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Final

#: A peer that has sent no request this long (seconds) after it was accepted may be evicted...
NEW_IDLE: Final = 0.5
#: ...given this many of its round-trip times more (a CURVE handshake, then the request)...
HANDSHAKE_TRIPS: Final = 4
#: ...but no more than this more: a peer that delays its ACKs gains little.
MAX_ALLOWANCE: Final = 1.0
#: A peer whose latest request is this old may be evicted.
QUIET_IDLE: Final = 3.0


@dataclass(slots=True)
class Peer:
    """One accepted connection, by the descriptor it holds."""

    #: Who it is (``getpeername()`` when accepted): a descriptor number is reused once closed,
    #: so an eviction first checks the descriptor still belongs to this peer.
    address: Hashable
    accepted: float
    #: Extra seconds it has for its first request: its handshake takes round trips.
    allowance: float = 0.0
    #: When it last showed life: accepted, or its latest request.
    since: float = field(init=False)
    #: It has sent a request (or, connected before requests were noted, is judged as if).
    spoke: bool = False
    #: When it becomes idle, unless it sends a request first.
    idle_at: float = field(init=False)

    def __post_init__(self) -> None:
        self.note(self.accepted, self.spoke)

    def note(self, since: float, spoke: bool) -> None:
        self.since, self.spoke = since, spoke
        self.idle_at = since + (QUIET_IDLE if spoke else NEW_IDLE + self.allowance)


class PeerTable:
    """The accepted connections, keyed by descriptor, and when each last showed life.

    Two queues, each in the order peers last showed life (a dict keeps insertion order): those
    that never spoke, and those that did (a request moves a peer to the back). Choosing walks
    each from the front and stops at the first peer too recent to be idle, so under a flood of
    tens of thousands a look costs what it evicts, not what the table holds. This needs the
    times given to be in order, as a monotonic clock gives them.
    """

    def __init__(self) -> None:
        self._silent: dict[int, Peer] = {}
        self._spoke: dict[int, Peer] = {}

    def __len__(self) -> int:
        return len(self._silent) + len(self._spoke)

    def get(self, fd: int) -> Peer | None:
        return self._silent.get(fd) or self._spoke.get(fd)

    def items(self) -> list[tuple[int, Peer]]:
        return [*self._silent.items(), *self._spoke.items()]

    def accepted(self, fd: int, address: Hashable, now: float, rtt: float = 0.0) -> None:
        """A connection was accepted on ``fd``; ``rtt``: the kernel's round-trip estimate."""
        self.closed(fd)  # the number was reused, and its DISCONNECTED not seen
        self._silent[fd] = Peer(address, now, min(HANDSHAKE_TRIPS * rtt, MAX_ALLOWANCE))

    def closed(self, fd: int) -> None:
        if self._silent.pop(fd, None) is None:
            self._spoke.pop(fd, None)

    def heard(self, fd: int, now: float) -> None:
        """A request came over ``fd``."""
        peer = self._silent.pop(fd, None) or self._spoke.pop(fd, None)
        if peer is not None:
            peer.note(now, True)
            self._spoke[fd] = peer

    def reckon_from(self, now: float, silence: Callable[[int, Peer], float | None]) -> None:
        """Requests are noted only while descriptors are short. When that begins, date each
        peer's last sign of life by ``silence`` (seconds since it last sent anything, as the
        kernel knows it; where unknown, a full bound from ``now``). The kernel cannot tell a
        request from a heartbeat, so a peer connected longer than ``QUIET_IDLE`` is judged as
        one that spoke: a client that has been pinging keeps its connection, and a peer silent
        that long goes either way."""
        everyone = self.items()
        for fd, peer in everyone:
            quiet = silence(fd, peer)
            peer.note(now if quiet is None else now - max(quiet, 0.0), peer.spoke or now - peer.accepted >= QUIET_IDLE)
        everyone.sort(key=lambda item: item[1].since)
        self._silent = {fd: peer for fd, peer in everyone if not peer.spoke}
        self._spoke = {fd: peer for fd, peer in everyone if peer.spoke}

    def choose(self, now: float, count: int) -> list[tuple[int, Peer]]:
        """Up to ``count`` idle peers to evict: those that never spoke first, each group
        longest silent first."""
        chosen: list[tuple[int, Peer]] = []
        if count <= 0:
            return chosen
        for fd, peer in self._silent.items():
            if len(chosen) == count or peer.since + NEW_IDLE > now:  # none further on is idle
                break
            if peer.idle_at <= now:  # else its round trips give it longer
                chosen.append((fd, peer))
        for fd, peer in self._spoke.items():
            if len(chosen) == count or peer.idle_at > now:
                break
            chosen.append((fd, peer))
        return chosen
