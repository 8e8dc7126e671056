"""`pingctl mesh`'s matrix and its verdict: rows and columns matched from the daemons' own
tables, a bad host named as such (not every path through it), a bad path alone named as a
link, and an ordinary fleet's jitter naming no one."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pingctl import matrix
from pingctl.matrix import Member, build, outliers
from pingd.shared.schema import peers_problem

#: (recent probes, recent lost, p50 seconds) of row i's probes to column j.
Figures = Callable[[int, int], tuple[int, int, float]]


def member(k: int, node_id: bool = True) -> Member:
    return Member(f"box-{k:02d}", f"{k:016x}" if node_id else None, f"10.0.0.{k}", 7464)


def entry(peer: Member, probes: int = 10, lost: int = 0, p50: float = 0.0004, **changes: object) -> dict:
    figures = {
        "name": peer.name, "node_id": peer.node_id, "address": peer.address, "port": peer.port,
        "probes": probes, "lost": lost, "recent_probes": probes, "recent_lost": lost,
        "p50_seconds": p50 if lost < probes else None, "p90_seconds": p50 * 1.3 if lost < probes else None,
        "last_error": "no reply within 1 s" if lost else None, "last_probe_seconds_ago": 2.5,
    }  # fmt: skip
    return figures | changes


def table(entries: list[dict]) -> dict:
    reply = {"mesh": True, "interval_seconds": 10.0, "window_seconds": 30.0, "peers_known": len(entries),
             "peers": entries}  # fmt: skip
    assert peers_problem(reply) is None  # what pingctl would hold
    return reply


def fleet(n: int, figures: Figures = lambda i, j: (10, 0, 0.0004)) -> tuple[list[Member], dict]:
    members = [member(k) for k in range(1, n + 1)]
    tables = {
        m: table([entry(peer, *figures(i, j)) for j, peer in enumerate(members) if j != i])
        for i, m in enumerate(members)
    }
    return members, tables


def jitter(i: int, j: int) -> float:
    """An ordinary LAN p50 between 0.3 and 0.5 ms."""
    return 0.0003 + 0.0001 * ((i * 7 + j) % 3)


def test_a_lossy_host_and_a_slow_answering_host_are_named_and_no_link():
    def figures(i: int, j: int) -> tuple[int, int, float]:
        lost = 3 if 2 in (i, j) else 0  # box-03: its probes and its answers lose 30 %
        return 10, lost, 0.040 if j == 6 else jitter(i, j)  # box-07 answers in 40 ms; its own probes are fine

    verdict = outliers(build(*fleet(12, figures)))
    assert [h.name for h in verdict.hosts] == ["box-03", "box-07"] and verdict.links == ()
    lossy, slow = verdict.hosts
    assert lossy.row is not None and lossy.column is not None and lossy.row.lossy and lossy.column.lossy
    assert (lossy.row.loss, lossy.column.loss) == (0.3, 0.3) and not lossy.row.slow
    assert slow.column is not None and slow.column.slow and (slow.column.slow_cells, slow.column.answered) == (11, 11)
    assert slow.row is not None and not slow.row.hot  # a hot column alone names it
    assert verdict.fleet_p50 == pytest.approx(0.0004) and verdict.fleet_loss == 0.0 and verdict.judged


def test_one_hot_cell_alone_is_a_link_and_no_host():
    def figures(i: int, j: int) -> tuple[int, int, float]:
        return 3, 0, 0.012 if (i, j) == (1, 4) else jitter(i, j)

    verdict = outliers(build(*fleet(12, figures)))
    assert verdict.hosts == ()
    [link] = verdict.links
    assert (link.row, link.column, link.source, link.target) == (1, 4, "box-02", "box-05")
    assert link.slow and not link.lossy and link.cell.p50 == 0.012


def test_a_dead_path_is_a_link_even_in_a_small_fleet():
    """3 lost of 3 would lift the line of 5 cells to 20 %: the line is judged without it."""
    members, tables = fleet(6, lambda i, j: (3, 3 if (i, j) == (0, 3) else 0, 0.0004))
    verdict = outliers(build(members, tables))
    assert verdict.hosts == ()
    assert [(k.source, k.target, k.lossy, k.slow) for k in verdict.links] == [("box-01", "box-04", True, False)]


def test_a_bad_host_does_not_drag_its_peers_lines_with_it():
    """In a fleet of five, box-03's lost answers are a quarter of everyone's column: each next
    host is judged without its paths to the hosts named before it."""
    members, tables = fleet(5, lambda i, j: (10, 5 if 2 in (i, j) else 0, 0.0004))
    assert [h.name for h in outliers(build(members, tables)).hosts] == ["box-03"]


def test_one_lost_probe_names_no_one():
    members, tables = fleet(4, lambda i, j: (3, 1 if (i, j) in ((0, 1), (2, 1)) else 0, 0.0004))
    verdict = outliers(build(members, tables))
    assert verdict.judged and verdict.hosts == () and verdict.links == ()


def test_with_three_members_a_slow_host_is_two_links():
    """A line needs 3 probed cells: in a fleet of three no host can be named, only paths."""
    verdict = outliers(build(*fleet(3, lambda i, j: (3, 0, 0.02 if j == 2 else 0.0004))))
    assert verdict.hosts == ()
    assert [(k.source, k.target) for k in verdict.links] == [("box-01", "box-03"), ("box-02", "box-03")]


def test_fewer_than_three_tables_name_nothing():
    members, tables = fleet(5, lambda i, j: (10, 10 if j == 0 else 0, 0.02))
    for m in members[2:]:
        tables[m] = "no answer within 2 s"
    m = build(members, tables)
    verdict = outliers(m)
    assert m.tables == 2 and not verdict.judged and verdict.hosts == () and verdict.links == ()


def test_no_probe_at_all_names_nothing():
    verdict = outliers(build(*fleet(4, lambda i, j: (0, 0, 0.0004))))
    assert verdict.fleet_loss is None and verdict.fleet_p50 is None and not verdict.judged


def test_members_without_mesh_or_refused_have_no_row_but_a_column():
    members, tables = fleet(5)
    tables[members[1]] = {"mesh": False, "interval_seconds": None, "window_seconds": None, "peers_known": 4,
                          "peers": []}  # fmt: skip
    tables[members[2]] = "refused: not on its allow-list"
    del tables[members[3]]
    m = build(members, tables)
    assert m.missing == {1: matrix.MESH_OFF, 2: "refused: not on its allow-list", 3: matrix.NO_TABLE}
    assert m.tables == 2 and not outliers(m).judged
    assert [j for j in range(5) if m.cell(0, j) is not None] == [1, 2, 3, 4]  # still probed by the others
    assert all(m.cell(1, j) is None for j in range(5))
    assert m.windows == {0: 30.0, 4: 30.0}


def test_peers_are_matched_by_node_id_and_by_name_and_address_without_one():
    a, b, c, d = member(1), member(2), member(3, node_id=False), member(4)
    entries = [
        entry(b, address="fe80::2", p50=0.0002),  # b by its node id, though found at another address
        entry(c, p50=0.0003, node_id="0000000000000099"),  # c gave pingctl no node id: by name and address
        entry(d, node_id=None, p50=0.0005),  # d's entry has none: by name and address
    ]
    m = build([d, c, b, a], {a: table(entries)})
    assert m.members == (a, b, c, d) and m.extras == ()
    assert [m.cell(0, j).p50 if m.cell(0, j) else None for j in range(4)] == [None, 0.0002, 0.0003, 0.0005]


def test_unmatched_peers_are_extra_columns_after_the_members():
    a, b = member(1), member(2)
    renamed = entry(b, node_id="00000000000000ff")  # same name and address, another daemon
    moved = entry(b, node_id=None, port=7465)  # no node id, and not where pingctl found b
    ghost = entry(Member("aaa-ghost", "00000000000000aa", "10.0.0.9", 7464), lost=10)
    m = build([b, a], {a: table([renamed, moved, ghost, entry(a)]), b: table([ghost, entry(a)])})
    # Three columns of one name, told apart by node id (or address) in brackets.
    assert [x.name for x in m.columns] == ["box-01", "box-02 [0000000000000002]", "aaa-ghost",
                                           "box-02 [00000000000000ff]", "box-02 [10.0.0.2:7465]"]  # fmt: skip
    assert [(x.node_id, x.port) for x in m.extras] == [("00000000000000aa", 7464), ("00000000000000ff", 7464),
                                                        (None, 7465)]  # fmt: skip
    assert m.cell(0, 1) is None  # a's table has no entry for the b pingctl found: not probed
    assert m.cell(0, 0) is None  # its own entry: the diagonal stays empty
    assert m.cell(0, 2) == m.cell(1, 2) and m.cell(1, 2).loss == 1.0  # one ghost, probed by both


def test_an_extra_column_everyone_loses_is_a_host():
    members, tables = fleet(4)
    ghost = Member("ghost", "00000000000000aa", "10.0.0.9", 7464)
    for m in members:
        tables[m]["peers"].append(entry(ghost, lost=10))
    verdict = outliers(build(members, tables))
    [host] = verdict.hosts
    assert (host.name, host.index, host.row) == ("ghost", 4, None) and host.column.lossy and verdict.links == ()


def test_a_peer_listed_twice_keeps_its_better_probed_entry():
    a, b = member(1), member(2)
    m = build([a, b], {a: table([entry(b, probes=1, lost=1), entry(b, probes=3, p50=0.0002)])})
    assert m.cell(0, 1).probes == 3 and m.extras == ()


@st.composite
def healthy(draw: st.DrawFn) -> tuple[list[Member], dict]:
    """A sound fleet: p50s of 0.2 to 0.6 ms, 2 to 6 probes in each window, and now and then a
    single lost probe (on paths that share no prober and no peer)."""
    n = draw(st.integers(3, 16))
    p50s = draw(st.lists(st.floats(0.0002, 0.0006), min_size=n * n, max_size=n * n))
    probes = draw(st.lists(st.integers(2, 6), min_size=n * n, max_size=n * n))
    losses = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=n // 3))
    rows, columns, lost = set(), set(), set()
    for i, j in losses:
        if i != j and i not in rows and j not in columns:
            rows.add(i), columns.add(j), lost.add((i, j))
    return fleet(n, lambda i, j: (probes[i * n + j], int((i, j) in lost), p50s[i * n + j]))


@given(healthy())
def test_a_healthy_fleet_names_no_one(members_tables):
    verdict = outliers(build(*members_tables))
    assert verdict.judged and verdict.hosts == () and verdict.links == ()


def test_two_daemons_of_one_name_are_told_apart_by_their_node_ids() -> None:
    a1 = matrix.Member("alpha", "aaaaaaaa11", "10.0.0.1", 7464)
    a2 = matrix.Member("alpha", "bbbbbbbb22", "10.0.0.2", 7464)
    grid = matrix.build([a1, a2], {a1: matrix.MESH_OFF, a2: matrix.MESH_OFF})
    assert [m.name for m in grid.members] == ["alpha [aaaaaaaa11]", "alpha [bbbbbbbb22]"]
    assert [m.node_id for m in grid.members] == ["aaaaaaaa11", "bbbbbbbb22"]
