"""Which daemons `pingctl monitor` probes, and until when: pure bookkeeping, no sockets and no
clock (every call is told the time).

Discovery speaks of records: a source ("local" for mDNS, a DNS domain) finds an instance, says
it changed, or says it is gone. The monitor probes *subjects* (the labels of a series: name,
address, node id). A subject is probed while some record holds it, so a daemon both announced
over mDNS and registered in DNS under the same name and address is probed once. When the last
record holding it lets go, its grace period starts (``--forget-after``): it is still probed,
so its ``up`` falls and its losses grow if it is really gone, and it is forgotten (its series
removed) when the grace runs out, unless a record holds it again first. Whatever churns, what
is kept is bounded by the subjects held now plus those that left within one grace period.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)  # a record: (source, instance name)
S = TypeVar("S", bound=Hashable)  # a subject: what is probed, and the labels of its series


class Roster(Generic[K, S]):
    def __init__(self, grace: float) -> None:
        self.grace = grace
        self._held_by: dict[K, S] = {}  # each record, and the subject it holds
        self._holders: dict[S, set[K]] = {}  # each subject probed, and the records holding it
        self._forget_at: dict[S, float] = {}  # subjects no record holds: when to forget each
        self._queue: deque[tuple[float, S]] = deque()  # the same, in order (one grace for all)

    def hold(self, key: K, subject: S, now: float) -> bool:
        """Record ``key`` now holds ``subject`` (found, or changed to it); True if the subject
        is new, to be probed from now on."""
        if self._held_by.get(key) == subject:
            return False
        self.release(key, now)
        self._held_by[key] = subject
        holders = self._holders.get(subject)
        if holders is None:
            self._holders[subject] = {key}
            return True
        holders.add(key)
        self._forget_at.pop(subject, None)  # back within its grace
        return False

    def release(self, key: K, now: float) -> None:
        """Record ``key`` is gone: its subject's grace starts if no other record holds it."""
        subject = self._held_by.pop(key, None)
        if subject is None:
            return
        holders = self._holders[subject]
        holders.discard(key)
        if not holders:
            deadline = now + self.grace
            self._forget_at[subject] = deadline
            self._queue.append((deadline, subject))

    def due(self, now: float) -> list[S]:
        """The subjects whose grace has run out by ``now``: no longer probed, their series removed."""
        out = []
        while self._queue and self._queue[0][0] <= now:
            deadline, subject = self._queue.popleft()
            if self._forget_at.get(subject) == deadline:  # not held again since
                del self._forget_at[subject]
                del self._holders[subject]
                out.append(subject)
        return out

    def next_due(self) -> float:
        """When ``due`` may next have something (inf: nothing is leaving)."""
        return self._queue[0][0] if self._queue else math.inf

    def subject(self, key: K) -> S | None:
        """The subject record ``key`` holds, if it holds one."""
        return self._held_by.get(key)

    def leaving(self, subject: S) -> bool:
        """Whether ``subject`` is in its grace period."""
        return subject in self._forget_at

    def subjects(self) -> list[S]:
        """Every subject probed now, in its grace period or not."""
        return list(self._holders)

    def size(self) -> int:
        """Entries kept, all tables together: what a long run's churn must not grow."""
        return len(self._held_by) + len(self._holders) + len(self._forget_at) + len(self._queue)
