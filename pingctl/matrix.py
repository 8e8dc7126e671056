"""`pingctl mesh`'s latency matrix, built from every daemon's peer table, and the rule that names
what is wrong in it; pure (no socket, no clock), so that every case is a test.

As in Microsoft's Pingmesh, row ``i`` is daemon ``i`` probing, column ``j`` daemon ``j`` being
probed. One slow or lossy path tells nothing about whom to blame; a whole line does: a host
whose probes to everyone (its row) or whose answers to everyone (its column) are worse than the
fleet's is the host's fault, and a bad cell on a path between two sound hosts is the link's.
Every figure is judged against the fleet's own median, not a fixed number, so a fleet spread
over a slower network is not all named at once. Hosts are named the worst first, and each
next one judged without its paths to those already named: one lossy host is in every other
host's column, and in a fleet of five it alone would push them all over the line.

A daemon knows its peers as its browser found them, which need not be as pingctl found them:
a peer is matched by node id, by name and address:port only when a side has no node id, and
peers that pingctl did not find are kept as columns of their own, after the members.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

#: A line (row or column) is hot when it loses this much more than the fleet's median path:
#: TCP on a LAN loses next to nothing, and one probe in ten across all of a host's paths is
#: no longer jitter.
LINE_LOSS_MARGIN = 0.10
#: A single path must lose this much more: it is judged on a few probes (3 in a 30 s window
#: at a 10 s interval), where one loss is already 33 %.
CELL_LOSS_MARGIN = 0.5
#: Nothing is lossy on one lost probe, however few were sent: in a small fleet a line holds
#: 9 probes, and a single loss, which any healthy network has now and then, would pass 10 %.
MIN_LOST = 2
#: Slow is at least 4 times the fleet's median p50: a LAN's p50s spread over about 3x
#: (0.2 to 0.6 ms), so 4x is past ordinary spread ...
SLOW_FACTOR = 4.0
#: ... plus 1 ms, so that a sub-millisecond fleet's scheduling jitter (a busy core, a
#: collector's pause) names no one.
SLOW_FLOOR = 0.001
#: A single path is slow only at 10 times the fleet's median p50 plus 5 ms: judged on the median
#: of about three probes, a path between two sound hosts on a busy machine read 3.2 ms against
#: a fleet's 0.38 ms (measured in tests/integration/test_mesh.py's fleet of 12), where a line,
#: the median of many cells, does not move.
CELL_SLOW_FACTOR = 10.0
CELL_SLOW_FLOOR = 0.005
#: A line is judged on at least 3 probed cells: with fewer, a host's fault and its one or two
#: peers' cannot be told apart.
MIN_LINE_CELLS = 3
#: A cell is judged on at least 2 probes: one is a single sample.
MIN_CELL_PROBES = 2
#: Nothing is named with fewer daemons' tables: between two probers, a bad path could be
#: either end's fault; a third is needed to tell.
MIN_TABLES = 3
#: Why a daemon whose reply says it does not probe has no row.
MESH_OFF = "mesh is off: it probes no peer"
#: Why a daemon the caller gave no table for has no row.
NO_TABLE = "no peer table"

#: A daemon's PEERS reply body, already held to the schema.
Reply = Mapping[str, Any]
#: What a member's row is built from: its reply, or why there is none (worded by the command).
Table = Reply | str


@dataclass(frozen=True)
class Member:
    """A daemon: one the command found (a row and a column), or one only a peer knows (a column)."""

    name: str
    node_id: str | None
    address: str
    port: int


@dataclass(frozen=True)
class Cell:
    """One prober's figures for one peer, over the prober's recent window."""

    probes: int
    lost: int
    p50: float | None  # seconds, of the answered probes; None if none was
    p90: float | None
    last_error: str | None

    @property
    def loss(self) -> float | None:
        return self.lost / self.probes if self.probes else None


@dataclass(frozen=True)
class Matrix:
    members: tuple[Member, ...]  # the rows, and the first columns: sorted by name
    extras: tuple[Member, ...]  # found by some daemon, not by pingctl: columns only
    cells: Mapping[tuple[int, int], Cell]  # (row, column); absent: the row's table has no such peer
    missing: Mapping[int, str]  # rows without a table, and why
    windows: Mapping[int, float]  # each row's window_seconds, where its table gives one

    @property
    def columns(self) -> tuple[Member, ...]:
        return self.members + self.extras

    @property
    def tables(self) -> int:
        return len(self.members) - len(self.missing)

    def cell(self, row: int, column: int) -> Cell | None:
        return self.cells.get((row, column))


def _order(member: Member) -> tuple[str, str, int, str]:
    return member.name, member.address, member.port, member.node_id or ""


def _at(name: str, address: str, port: int) -> tuple[str, str, int]:
    return name, address, port


class _Columns:
    """Which column a table's entry is: a member, or a peer pingctl did not find."""

    def __init__(self, members: tuple[Member, ...]) -> None:
        self._members = members
        self._by_id: dict[str, int] = {}
        self._by_at: dict[tuple[str, str, int], int] = {}
        for j, m in enumerate(members):
            if m.node_id is not None:
                self._by_id.setdefault(m.node_id, j)
            self._by_at.setdefault(_at(m.name, m.address, m.port), j)
        self.extras: dict[tuple[str, ...], Member] = {}

    def of(self, entry: Reply) -> int | tuple[str, ...]:
        """A member's index, or the key of an extra column (made on first sight)."""
        node_id = entry.get("node_id")
        if node_id is not None and node_id in self._by_id:
            return self._by_id[node_id]
        at = _at(entry["name"], entry["address"], entry["port"])
        j = self._by_at.get(at)
        if j is not None and (node_id is None or self._members[j].node_id is None):
            return j
        key = ("id", node_id) if node_id is not None else ("at", at[0], at[1], str(at[2]))
        self.extras.setdefault(key, Member(at[0], node_id, at[1], at[2]))
        return key


def _cell(entry: Reply) -> Cell:
    return Cell(
        probes=entry["recent_probes"],
        lost=entry["recent_lost"],
        p50=entry.get("p50_seconds"),
        p90=entry.get("p90_seconds"),
        last_error=entry.get("last_error"),
    )


def build(members: Iterable[Member], tables: Mapping[Member, Table]) -> Matrix:
    """The matrix of ``members`` (each once, sorted by name), from each one's table."""
    rows = tuple(sorted(set(members), key=_order))
    columns = _Columns(rows)
    missing: dict[int, str] = {}
    windows: dict[int, float] = {}
    found: dict[tuple[int, int | tuple[str, ...]], Cell] = {}
    for i, member in enumerate(rows):
        table = tables.get(member, NO_TABLE)
        if isinstance(table, str) or not table["mesh"]:
            missing[i] = table if isinstance(table, str) else MESH_OFF
            continue
        if table.get("window_seconds") is not None:
            windows[i] = table["window_seconds"]
        for entry in table["peers"]:
            j = columns.of(entry)
            if j == i:
                continue  # itself: the diagonal stays empty
            cell, kept = _cell(entry), found.get((i, j))
            if kept is None or cell.probes > kept.probes:  # listed twice: the better-probed
                found[i, j] = cell
    extras = sorted(columns.extras.items(), key=lambda item: _order(item[1]))
    index: dict[int | tuple[str, ...], int] = {j: j for j in range(len(rows))}
    index.update({key: len(rows) + k for k, (key, _) in enumerate(extras)})
    cells = {(i, index[j]): cell for (i, j), cell in found.items()}
    told = _told_apart((*rows, *(m for _, m in extras)))
    return Matrix(told[: len(rows)], told[len(rows) :], cells, missing, windows)


def _told_apart(members: tuple[Member, ...]) -> tuple[Member, ...]:
    """Members of one name (a name claimed twice, by mDNS and DNS or by a forger) told apart in
    every view: the node id (or the address) in brackets after it."""
    names = [m.name for m in members]
    return tuple(
        replace(m, name=f"{m.name} [{m.node_id or f'{m.address}:{m.port}'}]") if names.count(m.name) > 1 else m
        for m in members
    )


@dataclass(frozen=True)
class Line:
    """A host's row (its probes to everyone) or column (everyone's probes to it), judged."""

    cells: int  # cells with probes
    probes: int
    lost: int
    p50: float | None  # the median of its cells' p50s
    answered: int  # cells with a p50
    slow_cells: int  # of those, how many are at or over the slow limit
    lossy: bool
    slow: bool

    @property
    def loss(self) -> float:
        return self.lost / self.probes

    @property
    def hot(self) -> bool:
        return self.lossy or self.slow


@dataclass(frozen=True)
class Host:
    name: str
    index: int  # its column in the matrix (and its row, when it is a member)
    row: Line | None  # its probes; None: no row, or one too short to judge
    column: Line | None  # its answers; None: too short to judge


@dataclass(frozen=True)
class Link:
    row: int
    column: int
    source: str  # the prober's name
    target: str  # the probed peer's name
    cell: Cell
    lossy: bool
    slow: bool


@dataclass(frozen=True)
class Verdict:
    tables: int  # members with a table
    fleet_p50: float | None  # the median p50 of every cell with an answered probe
    fleet_loss: float | None  # the median loss of every cell with a probe
    hosts: tuple[Host, ...] = ()
    links: tuple[Link, ...] = ()

    @property
    def judged(self) -> bool:
        """False: too few tables, or no probe at all, to name anything."""
        return self.tables >= MIN_TABLES and self.fleet_loss is not None

    @property
    def slow_limit(self) -> float:
        """The p50 at or over which a line is slow (inf: no p50 to compare with)."""
        return math.inf if self.fleet_p50 is None else SLOW_FACTOR * self.fleet_p50 + SLOW_FLOOR

    @property
    def cell_slow_limit(self) -> float:
        """The p50 at or over which a single path is slow."""
        return math.inf if self.fleet_p50 is None else CELL_SLOW_FACTOR * self.fleet_p50 + CELL_SLOW_FLOOR


def _line(cells: list[Cell], fleet: Verdict) -> Line | None:
    """A line's figures, judged; None if too short to judge. Its loss is judged without its
    lossiest cell: one dead path is the link's fault (the cell rule names it), and alone it
    would lift a line of 10 cells past 10 %."""
    probed = [c for c in cells if c.probes]
    if len(probed) < MIN_LINE_CELLS:
        return None
    p50s = [c.p50 for c in probed if c.p50 is not None]
    probes, lost = sum(c.probes for c in probed), sum(c.lost for c in probed)
    p50 = statistics.median(p50s) if p50s else None
    worst = max(probed, key=lambda c: (c.lost, -c.probes))
    rest_probes, rest_lost = probes - worst.probes, lost - worst.lost
    return Line(
        cells=len(probed),
        probes=probes,
        lost=lost,
        p50=p50,
        answered=len(p50s),
        slow_cells=sum(1 for p in p50s if p >= fleet.slow_limit),
        lossy=rest_lost >= MIN_LOST and rest_lost / rest_probes >= (fleet.fleet_loss or 0.0) + LINE_LOSS_MARGIN,
        slow=p50 is not None and p50 >= fleet.slow_limit,
    )


def _hot_cell(cell: Cell, fleet: Verdict) -> tuple[bool, bool]:
    """Whether ``cell`` is (lossy, slow) by itself."""
    if cell.probes < MIN_CELL_PROBES:
        return False, False
    lossy = cell.lost >= MIN_LOST and cell.lost / cell.probes >= (fleet.fleet_loss or 0.0) + CELL_LOSS_MARGIN
    return lossy, cell.p50 is not None and cell.p50 >= fleet.cell_slow_limit


def _severity(host: Host, fleet: Verdict) -> float:
    """How far past its limit the host's worse hot line is (1: at the limit)."""
    worst = 0.0
    for line in (host.row, host.column):
        if line is not None and line.hot:
            loss_limit = (fleet.fleet_loss or 0.0) + LINE_LOSS_MARGIN
            worst = max(worst, line.loss / loss_limit, (line.p50 or 0.0) / fleet.slow_limit)
    return worst


def _hosts(matrix: Matrix, fleet: Verdict) -> tuple[Host, ...]:
    """The hosts with a hot row or column, named the worst first, each judged again without
    its paths to those named before it: a bad host's paths are in every other host's lines
    too, and in a small fleet they alone can make a sound host's line look hot."""
    lines: dict[tuple[str, int], list[tuple[int, Cell]]] = {}
    for (i, j), cell in matrix.cells.items():
        lines.setdefault(("row", i), []).append((j, cell))
        lines.setdefault(("column", j), []).append((i, cell))
    named: dict[int, Host] = {}
    while True:
        candidates = []
        for j, member in enumerate(matrix.columns):
            if j in named:
                continue
            row, column = (
                _line([cell for k, cell in lines.get((kind, j), []) if k not in named], fleet)
                for kind in ("row", "column")
            )
            if (row is not None and row.hot) or (column is not None and column.hot):
                candidates.append(Host(member.name, j, row, column))
        if not candidates:
            return tuple(named[j] for j in sorted(named))
        worst = max(candidates, key=lambda host: _severity(host, fleet))
        named[worst.index] = worst


def outliers(matrix: Matrix) -> Verdict:
    """The hosts whose row or column is hot, and the hot cells between hosts not named."""
    probed = [c for c in matrix.cells.values() if c.probes]
    p50s = [c.p50 for c in probed if c.p50 is not None]
    fleet = Verdict(
        tables=matrix.tables,
        fleet_p50=statistics.median(p50s) if p50s else None,
        fleet_loss=statistics.median(c.lost / c.probes for c in probed) if probed else None,
    )
    if not fleet.judged:
        return fleet
    hosts = _hosts(matrix, fleet)
    named = {host.index for host in hosts}
    links = []
    for (i, j), cell in sorted(matrix.cells.items()):
        lossy, slow = _hot_cell(cell, fleet)
        if (lossy or slow) and i not in named and j not in named:
            links.append(Link(i, j, matrix.members[i].name, matrix.columns[j].name, cell, lossy, slow))
    return Verdict(fleet.tables, fleet.fleet_p50, fleet.fleet_loss, hosts, links=tuple(links))
