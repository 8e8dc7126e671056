"""`pingctl mesh`'s views: the heat map fits the terminal whatever the fleet's size and names,
prints nothing a name could use to control the terminal, and says the same verdict as the
plain lines and the JSON document."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pingctl.matrix import Member, build, outliers
from pingctl.show import meshverdict, meshview
from tests.pingctl.test_matrix import entry, fleet, jitter, table

SGR = re.compile(r"\x1b\[[0-9;]*m")
HOSTILE = ["\x1b[2J\x1b]0;owned\x07", "bell\x07\r\n", "a" * 63, "\u202eevil", "x\u200by", "日本語のホスト名前" * 3,
           "\x9b" * 63, "back\\slash"]  # fmt: skip


def twelve() -> tuple[list[Member], dict]:
    """box-03 loses 30 % both ways; box-07 answers in 40 ms; box-12 refuses pingctl."""
    members, tables = fleet(12, lambda i, j: (10, 3 if 2 in (i, j) else 0, 0.040 if j == 6 else jitter(i, j)))
    tables[members[11]] = "refused: not on its allow-list"
    return members, tables


def views(members: list[Member], tables: dict, width: int = 80) -> dict[str, list[str]]:
    m = build(members, tables)
    verdict = outliers(m)
    return {
        "colour": meshview.heatmap_lines(m, verdict, colour=True, width=width),
        "plain": meshview.heatmap_lines(m, verdict, colour=False, width=width),
        "table": meshview.table_lines(m, verdict),
    }


def assert_safe(lines: list[str], width: int | None = None) -> None:
    """Nothing but our own colours controls the terminal, and (``width``) every line fits."""
    for line in lines:
        text = SGR.sub("", line)
        assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text), text
        assert width is None or meshview._width(text) <= width, (meshview._width(text), text)


def test_twelve_daemons_fit_80_columns_and_name_the_two_hosts():
    shown = views(*twelve())
    for lines in shown.values():
        assert_safe(lines, 80 if lines is not shown["table"] else None)
    verdict = [
        "the host: box-03 — its probes and answers lose 30 %",
        "the host: box-07 — its answers are slow to 10 of 10 peers: p50 40 ms, fleet 0.4 ms",
    ]
    assert shown["table"][-2:] == verdict
    assert " ".join(line.strip() for line in shown["plain"][-3:]) == " ".join(verdict)
    row = next(line for line in shown["plain"] if line.startswith(" 1 box-01"))
    assert row.split()[2:8] == ["0.4", "0.5", "0.3", "0.4", "0.5", "40"]  # stacked: its loss on the next line
    assert "12 box-12 refused: not on its allow-list" in shown["plain"]
    assert not any(SGR.search(line) for line in shown["plain"] + shown["table"])
    assert "\x1b[30;48;5;196m 40\x1b[0m" in shown["colour"][2]  # box-01's probe of box-07: red


def test_a_small_fleet_shows_names_and_both_figures_side_by_side():
    members, tables = fleet(4, lambda i, j: (10, 3 if (i, j) == (0, 1) else 0, 0.00031))
    tables[members[0]]["peers"][2]["recent_probes"] = 0  # box-01 has not probed box-04 lately
    del tables[members[1]]["peers"][0]  # box-02 does not probe box-01
    lines = views(members, tables)["plain"]
    assert lines[1].split() == ["box-01", "box-02", "box-03", "box-04"]
    assert lines[2].split() == ["1", "box-01", "0.31", "30%", "0.31", "?"]
    assert lines[3].split() == ["2", "box-02", "-", "0.31", "0.31"]
    assert not any(line.startswith("columns:") for line in lines)  # no legend: the header has the names


def test_the_verdict_says_why_nothing_is_named():
    few = fleet(4)
    for m in few[0][2:]:
        few[1][m] = "pingd 0.1 does not answer PEERS"
    assert views(*few)["table"][-1].startswith("no verdict: 2 of 4 daemons gave a peer table, and it takes 3")
    assert views(*fleet(4, lambda i, j: (0, 0, 0.0004)))["table"][-1] == (
        "no verdict: no daemon has probed a peer within its window yet"
    )
    calm = views(*fleet(5))["table"][-1]
    assert calm.startswith("no outlier: every row and column within 4 × the fleet's p50 + 1 ms (2.6 ms; the fleet's")


def test_a_link_is_named_with_its_figures():
    members, tables = fleet(12, lambda i, j: (3, 3 if (i, j) == (4, 9) else 0, 0.012 if (i, j) == (1, 4) else 0.0004))
    assert views(members, tables)["table"][-2:] == [
        "the link: box-02 → box-05 — p50 12 ms, fleet 0.4 ms",
        "the link: box-05 → box-10 — loses 3 of 3 probes",
    ]


def test_figures_keep_three_significant_digits():
    assert [meshverdict.ms(s) for s in (0.00031, 0.0412, 0.4123, 1.2345, 0.9996, 1e-9)] == [
        "0.31", "41.2", "412", "1234", "1000", "0",
    ]  # fmt: skip
    assert [meshverdict.pct(lost, 1000) for lost in (0, 1, 5, 120, 999, 1000)] == ["0", "<1", "0", "12", ">99", "100"]


@pytest.mark.parametrize("n", [30, 60, 120])
def test_a_large_fleet_falls_back_to_colour_alone_and_then_cuts_columns(n):
    members, tables = fleet(min(n, 60), lambda i, j: (3, 0, 0.02 if j == 5 else 0.0004))
    members += [Member(f"zz-{k:03d}", None, "10.1.0.1", 7000 + k) for k in range(n - len(members))]  # no table
    shown = views(members, tables)
    assert_safe(shown["colour"], 80)
    assert_safe(shown["plain"], 80)
    assert any("box-06 — its answers are slow" in line for line in shown["plain"])
    cut = [line for line in shown["plain"] if line.startswith("columns ")]
    assert cut == ([f"columns 77–{n} do not fit in 80"] if n > 76 else [])
    row = next(line for line in shown["plain"] if line.startswith(f"{1:>{len(str(n))}} "))
    cells = row[row.index(" ", len(str(n)) + 1) :]  # after the label: a mark per cell, not figures
    assert set(cells) <= set(" .+#-") and "#" in cells and "." in cells


def test_hostile_names_are_escaped_and_cut_to_fit():
    members = [Member(name, None, f"10.0.0.{k}", 7464) for k, name in enumerate(HOSTILE)]
    tables = {m: table([entry(p, lost=10 if j == 0 else 0, last_error="\x1b]52;c;aGk=\x07") for j, p in
                        enumerate(members) if p != m]) for m in members}  # fmt: skip
    tables[members[1]] = "refused: \x1b[31m" + "z" * 300
    for width in (40, 80, 200):
        shown = views(members, tables, width)
        assert_safe(shown["colour"], width)
        assert_safe(shown["plain"], width)
        assert_safe(shown["table"])
    text = "\n".join(shown["table"])
    assert "\\x1b[2J" in text and "\\x1b]52;c;aGk=\\x07" in text and "\\u202eevil" in text and "back\\\\slash" in text


@given(
    st.lists(st.text(min_size=1, max_size=63), min_size=3, max_size=24, unique=True),
    st.integers(30, 200),
    st.data(),
)
def test_any_names_any_figures_fit_any_width(names, width, data):
    members = [Member(name, None, "10.0.0.1", 7464 + k) for k, name in enumerate(names)]
    figures = st.tuples(st.integers(0, 6), st.integers(0, 6), st.floats(0, 3) | st.none())
    tables = {}
    for m in members:
        entries = []
        for peer in members:
            probes, lost, p50 = data.draw(figures)
            lost = min(lost, probes)
            entries.append(entry(peer, probes, lost, p50_seconds=p50 if lost < probes else None))
        tables[m] = table(entries) if data.draw(st.booleans()) else data.draw(st.text(max_size=80))
    shown = views(members, tables, width)
    assert_safe(shown["colour"], width)
    assert_safe(shown["plain"], width)
    assert_safe(shown["table"])


def test_the_document_keeps_exact_names_and_says_the_same_verdict():
    members, tables = twelve()
    ghost = Member("ghost\x1b[0m", None, "10.0.0.99", 7464)
    tables[members[0]]["peers"].append(entry(ghost))
    del tables[members[1]]["peers"][0]
    m = build(members, tables)
    document = meshview.document(m, outliers(m))
    json.dumps(document)
    assert document["members"][0] == {"name": "box-01", "node_id": "0000000000000001", "address": "10.0.0.1",
                                      "port": 7464}  # fmt: skip
    assert document["found_by_peers_only"] == [{"name": "ghost\x1b[0m", "node_id": None, "address": "10.0.0.99",
                                                "port": 7464}]  # fmt: skip
    assert document["without_table"] == [{"name": "box-12", "reason": "refused: not on its allow-list"}]
    unprobed = [("box-02", "box-01"), *((f"box-{i:02d}", "ghost\x1b[0m") for i in range(2, 12))]
    ids = {m.name: m.node_id for m in (*members, ghost)}
    assert document["not_probed"] == [{"from": a, "to": b, "from_node_id": ids[a], "to_node_id": ids[b]}
                                      for a, b in unprobed]  # fmt: skip
    first = document["cells"][0]
    assert first == {"from": "box-01", "to": "box-02", "from_node_id": "0000000000000001",
                     "to_node_id": "0000000000000002", "p50_seconds": jitter(0, 1),
                     "p90_seconds": jitter(0, 1) * 1.3, "loss": 0.0, "probes": 10, "lost": 0,
                     "last_error": None}  # fmt: skip
    verdict = document["verdict"]
    assert [(h["name"], h["reason"]) for h in verdict["hosts"]] == [
        ("box-03", "its probes and answers lose 30 %"),
        ("box-07", "its answers are slow to 10 of 10 peers: p50 40 ms, fleet 0.4 ms"),
    ]
    assert verdict["hosts"][0]["row"]["lossy"] and verdict["hosts"][1]["row"]["slow"] is False
    assert verdict["links"] == [] and verdict["judged"] and verdict["note"] is None


def test_a_host_slow_both_ways_and_a_fleet_that_answers_nothing():
    slow = fleet(6, lambda i, j: (3, 0, 0.03 if 0 in (i, j) else 0.0004))
    assert (
        views(*slow)["table"][-1]
        == "the host: box-01 — its probes and answers are slow: p50 30 and 30 ms, fleet 0.4 ms"
    )
    silent = views(*fleet(4, lambda i, j: (3, 3, 0.0004)))["table"]
    assert silent[1].split() == ["box-01", "box-02", "-", "100%", "3", "no", "reply", "within", "1", "s"]
    assert silent[-1] == "no outlier: no probe was answered, by any daemon"


def test_an_extra_column_named_has_no_row_in_the_document():
    members, tables = fleet(4)
    ghost = Member("ghost", None, "10.0.0.9", 7464)
    for m in members:
        tables[m]["peers"].append(entry(ghost, lost=10))
    m = build(members, tables)
    [host] = meshview.document(m, outliers(m))["verdict"]["hosts"]
    assert host["name"] == "ghost" and host["row"] is None and host["column"]["loss"] == 1.0
    assert host["reason"] == (
        "no peer had an answer from it (40 of 40 probes lost): stopped, unreachable, or refusing connections"
    )


def test_a_host_that_answers_some_probes_is_lossy_not_gone():
    members, tables = fleet(5, lambda i, j: (10, 10 if j == 0 else 0, 0.0004))
    m = build(members, tables)
    assert [meshverdict.host_reason(h, outliers(m)) for h in outliers(m).hosts] == [
        "no peer had an answer from it (40 of 40 probes lost): stopped, unreachable, or refusing connections"
    ]
    members, tables = fleet(5, lambda i, j: (10, 9 if j == 0 else 0, 0.0004))
    m = build(members, tables)
    assert [meshverdict.host_reason(h, outliers(m)) for h in outliers(m).hosts] == ["its answers lose 90 %"]
