"""Every daemon at once: a first contact with each daemon discovery found, made concurrently.

Each daemon gets a client of its own (its own socket on the shared ZeroMQ context) in a
thread of its own, all started at once, so the whole first contact costs about one
``--timeout`` however many daemons are silent (records outlive killed daemons; a stale zone
may hold hundreds). ``statuses`` keeps the answers (`status --all`); ``connect`` also keeps
the clients open, for the sessions of `ping --all`.

Each first contact holds a TCP connection and three ZeroMQ sockets (the client's, and the two
ends of its connection monitor), so the context's socket limit and the process's descriptor
limit are raised to fit the fleet.
"""

from __future__ import annotations

import resource
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial

import zmq

from pingctl.client import PingClient, Target, first_to_answer
from pingctl.errors import ClientError, LocalLimit
from pingctl.find.found import Found
from pingd.shared.keys import KeyPair
from pingd.shared.protocol import Status

#: At most this many daemons are asked at the same time: beyond it, about one --timeout more
#: for each thousand silent ones.
MAX_PARALLEL = 1024
#: ZeroMQ sockets (and descriptors) one first contact may hold at once.
PER_DAEMON = 4
#: Descriptors kept for everything else (discovery, the context's own, the terminal).
RESERVED_FDS = 128


@dataclass(frozen=True, slots=True)
class DaemonStatus:
    """One daemon's answer: its status from the address that gave it, or why none did; and,
    from ``connect``, the client that got it, still open."""

    found: Found
    target: Target | None = None
    status: Status | None = None
    error: ClientError | None = None
    client: PingClient | None = field(default=None, compare=False, repr=False)


def context_for(daemons: int) -> zmq.Context:
    """A ZeroMQ context with room for the sockets of ``daemons`` first contacts and sessions
    (libzmq's default is 1,023 sockets: about 250 daemons)."""
    context = zmq.Context()
    context.max_sockets = max(1023, PER_DAEMON * min(daemons, MAX_PARALLEL) + 64)
    return context


def parallel_for(daemons: int) -> int:
    """How many daemons to ask at once: all of them up to ``MAX_PARALLEL``, as far as the
    descriptor limit allows once raised toward the hard limit (beyond it, in rounds)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = PER_DAEMON * min(daemons, MAX_PARALLEL) + RESERVED_FDS
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (OSError, ValueError):
            pass
    if soft == resource.RLIM_INFINITY:
        return min(daemons, MAX_PARALLEL)
    return max(1, min(daemons, MAX_PARALLEL, (soft - RESERVED_FDS) // PER_DAEMON))


def connect(
    found: list[Found], timeout: float, client_keys: KeyPair | None = None, context: zmq.Context | None = None
) -> list[DaemonStatus]:
    """A first contact with every daemon in ``found``, all at once, in the same order; the
    clients of those that answered are left open (the caller closes them)."""
    if not found:
        return []
    parallel = parallel_for(len(found))
    answers: list[DaemonStatus] = []
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        for start in range(0, len(found), parallel):
            # One deadline for each round: the command takes about one timeout a round.
            deadline = time.monotonic() + timeout
            batch = found[start : start + parallel]
            ask = partial(_connect, timeout=timeout, client_keys=client_keys, context=context, deadline=deadline)
            answers += pool.map(ask, batch)
    return answers


def statuses(found: list[Found], timeout: float, client_keys: KeyPair | None = None) -> list[DaemonStatus]:
    """The status of every daemon in ``found``, in the same order."""
    context = context_for(len(found))
    try:
        return closed(connect(found, timeout, client_keys, context))
    finally:
        context.destroy(linger=0)


def closed(answers: list[DaemonStatus]) -> list[DaemonStatus]:
    """The answers with their clients closed and dropped (a status, not a session)."""
    for answer in answers:
        if answer.client is not None:
            answer.client.close()
    return [replace(a, client=None) for a in answers]


def _connect(
    found: Found, timeout: float, client_keys: KeyPair | None, context: zmq.Context | None, deadline: float
) -> DaemonStatus:
    if not found.addresses:
        return DaemonStatus(found)
    try:
        client, status = first_to_answer(found.targets(), timeout, client_keys, context, deadline)
    except ClientError as exc:
        return DaemonStatus(found, error=exc)
    except zmq.ZMQError as exc:  # out of sockets or descriptors: this row says so, the rest go on
        return DaemonStatus(found, error=LocalLimit(found.targets()[0].display, exc.strerror))
    return DaemonStatus(found, client.target, status, client=client)
