"""Every daemon at once: a first contact with each daemon discovery found, made concurrently.

Each daemon gets a client of its own (its own socket on the shared ZeroMQ context) in a
thread of a small pool, so one that does not answer costs its timeout once, not once per
daemon behind it. ``statuses`` keeps the answers (`status --all`); ``connect`` also keeps
the clients open, for the sessions of `ping --all`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import zmq

from pingctl.client import PingClient, Target, first_to_answer
from pingctl.errors import ClientError
from pingctl.found import Found
from pingd.keys import KeyPair
from pingd.protocol import Status

#: At most this many daemons are asked at the same time.
MAX_PARALLEL = 32


@dataclass(frozen=True, slots=True)
class DaemonStatus:
    """One daemon's answer: its status from the address that gave it, or why none did; and,
    from ``connect``, the client that got it, still open."""

    found: Found
    target: Target | None = None
    status: Status | None = None
    error: ClientError | None = None
    client: PingClient | None = field(default=None, compare=False, repr=False)


def connect(
    found: list[Found], timeout: float, client_keys: KeyPair | None = None, context: zmq.Context | None = None
) -> list[DaemonStatus]:
    """A first contact with every daemon in ``found``, in the same order; the clients of those
    that answered are left open (the caller closes them)."""
    if not found:
        return []
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(found))) as pool:
        return list(pool.map(lambda f: _connect(f, timeout, client_keys, context), found))


def statuses(found: list[Found], timeout: float, client_keys: KeyPair | None = None) -> list[DaemonStatus]:
    """The status of every daemon in ``found``, in the same order."""
    answers = connect(found, timeout, client_keys)
    for answer in answers:
        if answer.client is not None:
            answer.client.close()
    return [replace(a, client=None) for a in answers]


def _connect(found: Found, timeout: float, client_keys: KeyPair | None, context: zmq.Context | None) -> DaemonStatus:
    if not found.addresses:
        return DaemonStatus(found)
    try:
        client, status = first_to_answer(found.targets(), timeout, client_keys, context)
    except ClientError as exc:
        return DaemonStatus(found, error=exc)
    return DaemonStatus(found, client.target, status, client=client)
