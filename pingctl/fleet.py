"""Every daemon at once: the status of each daemon discovery found, asked concurrently.

Each daemon gets a client of its own (its own socket on the shared ZeroMQ context) in a
thread of a small pool, so one that does not answer costs its timeout once, not once per
daemon behind it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from pingctl.client import Target, first_to_answer
from pingctl.discovery import Found
from pingctl.errors import ClientError
from pingd.keys import KeyPair
from pingd.protocol import Status

#: At most this many daemons are asked at the same time.
MAX_PARALLEL = 32


@dataclass(frozen=True, slots=True)
class DaemonStatus:
    """One daemon's answer: its status from the address that gave it, or why none did."""

    found: Found
    target: Target | None = None
    status: Status | None = None
    error: ClientError | None = None


def statuses(found: list[Found], timeout: float, client_keys: KeyPair | None = None) -> list[DaemonStatus]:
    """The status of every daemon in ``found``, in the same order."""
    if not found:
        return []
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(found))) as pool:
        return list(pool.map(lambda f: _status_of(f, timeout, client_keys), found))


def _status_of(found: Found, timeout: float, client_keys: KeyPair | None) -> DaemonStatus:
    if not found.addresses:
        return DaemonStatus(found)
    try:
        client, status = first_to_answer(found.targets(), timeout, client_keys)
    except ClientError as exc:
        return DaemonStatus(found, error=exc)
    client.close()
    return DaemonStatus(found, client.target, status)
