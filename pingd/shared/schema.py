"""The JSON bodies of the replies that carry one: STATUS_REPLY's status and PEERS_REPLY's peer
table, each key with its JSON type and whether it may be null, and the one checker both go
through. The daemon writes them; pingctl holds what it receives to them before using a value
(docs/protocol.md gives the same tables, with each key's meaning).

Later versions may add keys: a reader ignores those it does not know, and checks the optional
ones (added after the first release) only when they are present.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

#: Largest whole number a body carries (a count): read it as a 64-bit integer, not a double.
MAX_COUNT: Final = 2**64 - 1
#: Longest string value a body carries, in characters.
MAX_TEXT: Final = 1024

#: A key's JSON type (int: a whole number 0..2**64-1; float: a finite number >= 0; str, bool)
#: and whether it may be null.
Schema = Mapping[str, tuple[type, bool]]

#: The STATUS_REPLY object.
STATUS_SCHEMA: Final[dict[str, tuple[type, bool]]] = {
    "count": (int, False),  # 0 .. 2**64-1: read it as a 64-bit integer, not a double
    "node_id": (str, False),
    "name": (str, False),
    "version": (str, False),
    "protocol": (int, False),
    "uptime_seconds": (float, False),  # seconds since start, a finite number >= 0
    "pings_served": (int, False),  # PONGs sent since start (not errors, not STATUS replies)
    "durability": (str, False),  # "periodic" or "always"
    "storage": (str, False),  # "ok", or why the count cannot be persisted right now
    "security": (str, False),  # "plain", "curve" or "curve+allow-list"
    "curve_public_key": (str, True),  # the daemon's CURVE key (Z85, 40 characters); null when plain
}
#: Keys added to STATUS_REPLY after the first release: checked when present.
OPTIONAL_STATUS_SCHEMA: Final[dict[str, tuple[type, bool]]] = {
    "announced": (str, False),  # how the daemon makes itself known, and whether that works now
    "probes_served": (int, False),  # peers' mesh PROBEs answered since start (not counted as pings)
    "mesh": (str, False),  # what the daemon's own mesh probing does now, for people
}

#: The PEERS_REPLY object: the daemon's peer table.
PEERS_SCHEMA: Final[dict[str, tuple[type, bool]]] = {
    "mesh": (bool, False),  # whether this daemon probes its peers (false: "peers" is empty)
    "interval_seconds": (float, True),  # how often it probes each peer; null without mesh
    "window_seconds": (float, True),  # the span the recent_* figures cover; null without mesh
    "peers_known": (int, False),  # peers its browsing knows now (the table lists at most MAX_PEERS)
    "peers": (list, False),  # objects of PEER_SCHEMA
}
#: One peer in the table.
PEER_SCHEMA: Final[dict[str, tuple[type, bool]]] = {
    "name": (str, False),  # its instance name, as announced
    "node_id": (str, True),  # its node id from its TXT record; null if it gave none
    "address": (str, False),  # where it is probed
    "port": (int, False),
    "probes": (int, False),  # since the daemon first probed it
    "lost": (int, False),  # of those: no reply in time, or a reply that shows a re-sent segment
    "recent_probes": (int, False),  # within window_seconds
    "recent_lost": (int, False),
    "p50_seconds": (float, True),  # of the recent probes answered in time; null if none was
    "p90_seconds": (float, True),
    "last_error": (str, True),  # why its last lost probe was lost, for people; null if none was
    "last_probe_seconds_ago": (float, True),  # null before the first probe
}
#: The peer table of a daemon that does not probe.
NO_MESH_TABLE: Final[dict[str, Any]] = {
    "mesh": False,
    "interval_seconds": None,
    "window_seconds": None,
    "peers_known": 0,
    "peers": [],
}
#: The most peers one PEERS_REPLY lists: with every value at its longest it stays within the
#: 64 KiB a client is told to accept (tests/pingd/shared/test_schema.py holds that).
MAX_PEERS: Final = 64


def problem(obj: Mapping[str, Any], schema: Schema, optional: Schema | None = None) -> str | None:
    """What makes ``obj`` break ``schema`` (and ``optional``, for the keys it has), or None."""
    for key, (kind, nullable) in (*schema.items(), *(optional or {}).items()):
        if key not in obj:
            if optional is not None and key in optional:
                continue
            return f"{key} is missing"
        value = obj[key]
        if value is None:
            if nullable:
                continue
            return f"{key} is null"
        wrong = _wrong(value, kind)
        if wrong:
            return f"{key} is {wrong}"
    return None


def _wrong(value: Any, kind: type) -> str | None:
    if kind is int:
        if type(value) is not int or not 0 <= value <= MAX_COUNT:
            return "not a whole number 0..2**64-1"
    elif kind is float:
        if type(value) not in (int, float) or not 0 <= value < math.inf:
            return "not a finite number >= 0"
    elif kind is bool:
        if type(value) is not bool:
            return "not true or false"
    elif kind is list:
        if type(value) is not list:
            return "not a list"
    elif type(value) is not str or len(value) > MAX_TEXT:
        return f"not a string of at most {MAX_TEXT} characters"
    return None


def status_problem(status: Mapping[str, Any]) -> str | None:
    """What makes ``status`` break ``STATUS_SCHEMA``, or None if it keeps it."""
    return problem(status, STATUS_SCHEMA, OPTIONAL_STATUS_SCHEMA)


def peers_problem(table: Any) -> str | None:
    """What makes ``table`` break ``PEERS_SCHEMA``, or None if it keeps it."""
    if not isinstance(table, dict):
        return "not an object"
    wrong = problem(table, PEERS_SCHEMA)
    if wrong:
        return wrong
    peers = table["peers"]
    if len(peers) > MAX_PEERS:
        return f"peers lists {len(peers)}, more than {MAX_PEERS}"
    if not table["mesh"] and peers:
        return "peers is not empty without mesh"
    for index, peer in enumerate(peers):
        if not isinstance(peer, dict):
            return f"peers[{index}] is not an object"
        wrong = problem(peer, PEER_SCHEMA)
        if wrong is None and (peer["port"] > 65535 or peer["lost"] > peer["probes"]):
            wrong = "port is above 65535" if peer["port"] > 65535 else "lost is more than probes"
        if wrong is None and peer["recent_lost"] > peer["recent_probes"]:
            wrong = "recent_lost is more than recent_probes"
        if wrong:
            return f"peers[{index}]: {wrong}"
    return None
