"""`pingctl mesh`'s views of the latency matrix and its verdict, shown three ways:

- ``heatmap_lines``: a terminal: Pingmesh's heat map, each cell coloured by how far it is from
  the fleet's own figures, then the verdict. It must fit the terminal: it gives up, in turn,
  the loss beside the p50 (put under it), then the figures (colour alone), then the columns
  past the edge; names become column numbers, with a legend;
- ``table_lines``: pipes: one line per cell, then the verdict;
- ``document``: ``--json``.

Names, reasons and errors come from the network (or are worded around what did): everything
printed goes through ``shown``, and is measured in terminal cells, not characters, so that a
wide script's name does not push the map off the screen.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from pingctl import matrix as mx
from pingctl.matrix import Cell, Host, Line, Matrix, Verdict
from pingctl.show import render
from pingctl.show.meshverdict import fleet_loss, host_reason, link_reason, ms, pct, verdict_lines
from pingctl.show.text import shown

#: xterm's 256 colours, green (the fleet's own figures) through yellow to red (hot).
HEAT = (34, 70, 106, 142, 178, 214, 208, 202, 196)
GREY = 246  # a path with no figures: not probed, or no probe within the window
RESET = "\x1b[0m"
NOT_PROBED = "-"
NO_PROBE = "?"
#: Without colour, a cell too narrow for figures shows its heat as a mark.
MARKS = (".", "+", "#")
UNITS = ("ms", "%", "s")


# -- the heat map ---------------------------------------------------------------------------


def _width(text: str) -> int:
    """Terminal cells ``text`` takes: wide scripts two, combining marks none."""
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` cells, with an ellipsis where it was cut."""
    if _width(text) <= width:
        return text
    return _cut(text, width - 1) + "…" if width > 1 else ""


def _pad(text: str, width: int, right: bool = False) -> str:
    fill = " " * max(0, width - _width(text))
    return fill + text if right else text + fill


def _cut(word: str, room: int) -> str:
    """The longest head of ``word`` within ``room`` cells (one character at least)."""
    head: list[str] = []
    used = 0
    for c in word:
        used += _width(c)
        if used > room and head:
            break
        head.append(c)
    return "".join(head)


def _wrap(text: str, width: int, indent: str = "  ") -> list[str]:
    """``text`` in lines of at most ``width`` cells, indented after the first; a word longer
    than a line (an escaped name can be) is cut."""
    lines: list[str] = []
    line = ""
    words: list[str] = []
    for word in text.split(" "):  # a figure and its unit stay on one line
        if words and word in UNITS:
            words[-1] += f" {word}"
        else:
            words.append(word)
    while words:
        lead = f"{line} " if line else indent if lines else ""
        if _width(lead + words[0]) <= width:
            line = lead + words.pop(0)
        elif line:
            lines.append(line)
            line = ""
        else:
            head = _cut(words[0], width - _width(lead))
            lines.append(lead + head)
            words[0] = words[0][len(head) :]
            if not words[0]:
                words.pop(0)
    return [*lines, line] if line else lines


def _pack(entries: list[str], width: int) -> list[str]:
    """``entries`` two spaces apart, in lines of at most ``width`` cells; each kept whole on
    one line unless it is wider than a line."""
    lines: list[str] = []
    for entry in entries:
        if lines and _width(f"{lines[-1]}  {entry}") <= width:
            lines[-1] += f"  {entry}"
        else:
            lines += [f"  {line}" for line in _wrap(entry, width - 2)] if lines else _wrap(entry, width)
    return lines


def _texts(cell: Cell | None) -> tuple[str, str]:
    """A cell's p50 and its loss (empty if none); a mark when it has no figures."""
    if cell is None:
        return NOT_PROBED, ""
    if not cell.probes:
        return NO_PROBE, ""
    loss = f"{pct(cell.lost, cell.probes)}%" if cell.lost else ""
    return (loss, "") if cell.p50 is None else (ms(cell.p50), loss)


def badness(cell: Cell | None, verdict: Verdict) -> float | None:
    """0 at the fleet's own figures, 1 at a hot cell's (or worse); None: no figures."""
    if cell is None or not cell.probes:
        return None
    loss = (cell.lost / cell.probes - (verdict.fleet_loss or 0.0)) / mx.CELL_LOSS_MARGIN
    slow = 0.0
    if cell.p50 is not None and verdict.fleet_p50 is not None:
        slow = (cell.p50 - verdict.fleet_p50) / (verdict.slow_limit - verdict.fleet_p50)
    return min(1.0, max(0.0, loss, slow))


@dataclass(frozen=True)
class _Layout:
    mode: str  # "wide": p50 and loss side by side; "stacked": loss under p50; "blocks": colour only
    cell: int  # a cell's width
    gap: int  # spaces between cells
    label: int  # the row labels' width
    names: bool  # row labels carry names (else only numbers)
    header_names: bool  # the header carries names (else numbers)
    columns: int  # how many columns are shown
    width: int  # the terminal's


def _plan(matrix: Matrix, texts: dict[tuple[int, int], tuple[str, str]], width: int) -> _Layout:
    """The roomiest layout that fits ``width``."""
    n = len(matrix.columns)
    digits = len(str(n))
    wide = max((_width(f"{a} {b}".strip()) for a, b in texts.values()), default=1)
    stacked = max((max(_width(a), _width(b)) for a, b in texts.values()), default=1)
    full_label = digits + 1 + max((_width(shown(m.name)) for m in matrix.members), default=0)
    longest = max((_width(shown(m.name)) for m in matrix.columns), default=1)
    for mode, cell, gap in (("wide", wide, 1), ("stacked", stacked, 1), ("blocks", 2, 0), ("blocks", 1, 0)):
        grid = n * cell + (n - 1) * gap
        if mode != "blocks" and full_label + 1 + n * max(cell, longest) + (n - 1) * gap <= width:
            return _Layout(mode, max(cell, longest), gap, full_label, True, True, n, width)
        if digits + 1 + grid <= width:
            label = min(full_label, width - 1 - grid)
            names = label >= digits + 4
            return _Layout(mode, cell, gap, label if names else digits, names, False, n, width)
    return _Layout("blocks", 1, 0, digits, False, False, max(1, width - digits - 1), width)


def _header(matrix: Matrix, layout: _Layout) -> list[str]:
    """Column names, or numbers (read downwards when a cell is too narrow for them)."""
    shown_columns = matrix.columns[: layout.columns]
    lead = " " * (layout.label + 1)
    spacer = " " * layout.gap
    if layout.header_names:
        return [lead + spacer.join(_pad(shown(m.name), layout.cell, right=True) for m in shown_columns)]
    numbers = [str(j + 1) for j in range(layout.columns)]
    digits = len(numbers[-1])
    if layout.cell + layout.gap > digits:
        return [lead + spacer.join(_pad(number, layout.cell, right=True) for number in numbers)]
    rows = []
    for k in range(digits):
        marks = (number.rjust(digits)[k] for number in numbers)
        rows.append(lead + spacer.join(_pad(mark, layout.cell, right=True) for mark in marks))
    return rows


def _paint(text: str, heat: float | None, layout: _Layout, colour: bool) -> str:
    """One cell: its text right-aligned on its colour (a mark for its heat when it has no text)."""
    if layout.mode == "blocks" and not colour and heat is not None:
        text = MARKS[min(len(MARKS) - 1, int(heat * len(MARKS)))]
    elif layout.mode == "blocks" and text not in (NOT_PROBED, NO_PROBE):
        text = ""
    body = _pad(text, layout.cell, right=True)
    if not colour:
        return body
    tone = GREY if heat is None else HEAT[round(heat * (len(HEAT) - 1))]
    return f"\x1b[30;48;5;{tone}m{body}{RESET}"


def _row_lines(matrix: Matrix, verdict: Verdict, i: int, layout: _Layout, colour: bool) -> list[str]:
    """Member ``i``'s row: its cells (two lines when stacked with a loss), or why it has none."""
    name = shown(matrix.members[i].name)
    label = str(i + 1).rjust(len(str(len(matrix.columns))))
    if layout.names:
        label = _fit(f"{label} {name}", layout.label)
    label = _pad(label, layout.label)
    if i in matrix.missing:
        return [f"{label} {_fit(shown(matrix.missing[i]), layout.width - layout.label - 1)}"]
    texts = [_texts(matrix.cell(i, j)) for j in range(layout.columns)]
    heats = [badness(matrix.cell(i, j), verdict) for j in range(layout.columns)]
    two = layout.mode == "stacked" and any(bottom for _, bottom in texts)
    lines = []
    for part in (0, 1) if two else (0,):
        cells = []
        for j, ((top, bottom), heat) in enumerate(zip(texts, heats, strict=True)):
            if j == i:
                cells.append(" " * layout.cell)
                continue
            text = (top, bottom)[part] if layout.mode == "stacked" else f"{top} {bottom}".strip()
            cells.append(_paint(text, heat, layout, colour))
        line = (label if part == 0 else " " * layout.label) + " " + (" " * layout.gap).join(cells)
        lines.append(line if colour else line.rstrip())
    return lines


def _legend(matrix: Matrix, verdict: Verdict, layout: _Layout, colour: bool) -> list[str]:
    """Column numbers to names (unless the header has the names), what the marks mean, and
    the fleet's figures."""
    lines, width, members = [], layout.width, len(matrix.members)
    if not layout.header_names:
        entries = [f"{j + 1} {shown(m.name)}" + (" (found by peers only)" if j >= members else "")
                   for j, m in enumerate(matrix.columns)]  # fmt: skip
        lines += _pack(["columns:", *entries], width)
    if layout.columns < len(matrix.columns):
        lines += _wrap(f"columns {layout.columns + 1}–{len(matrix.columns)} do not fit in {width}", width)
    key = f"{NOT_PROBED} not probed, {NO_PROBE} no probe within the window"
    if layout.mode == "blocks":
        hot = f"{mx.SLOW_FACTOR:g} × its p50 + {1000 * mx.SLOW_FLOOR:g} ms or + {100 * mx.CELL_LOSS_MARGIN:.0f} % loss"
        scale = "green: as the fleet, red:" if colour else f"{MARKS[0]} as the fleet, {MARKS[1]} worse, {MARKS[2]}"
        key += f"; {scale} {hot}"
    if verdict.fleet_p50 is not None:
        key += f"; fleet p50 {ms(verdict.fleet_p50)} ms{fleet_loss(verdict)}"
    return lines + _wrap(key, width)


def heatmap_lines(matrix: Matrix, verdict: Verdict, colour: bool, width: int) -> list[str]:
    """The heat map for a terminal ``width`` cells wide, then its legend and the verdict."""
    texts = {(i, j): _texts(matrix.cell(i, j)) for i in range(len(matrix.members))
             if i not in matrix.missing for j in range(len(matrix.columns)) if i != j}  # fmt: skip
    layout = _plan(matrix, texts, width)
    windows = sorted(set(matrix.windows.values()))
    over = "" if not windows else f" over the last {windows[0]:g} s" if len(windows) == 1 else (
        f" over each prober's last {windows[0]:g}–{windows[-1]:g} s")  # fmt: skip
    lines = _wrap(f"p50 ms and loss of each row's probes to each column{over}", width)
    lines += _header(matrix, layout)
    for i in range(len(matrix.members)):
        lines += _row_lines(matrix, verdict, i, layout, colour)
    lines += _legend(matrix, verdict, layout, colour)
    for line in verdict_lines(matrix, verdict):
        lines += _wrap(line, width)
    return lines


# -- pipes and JSON -------------------------------------------------------------------------


def table_lines(matrix: Matrix, verdict: Verdict) -> list[str]:
    """One line per path (a row without a table: one line saying why), then the verdict."""
    rows: list[tuple[str, ...]] = [("FROM", "TO", "P50_MS", "LOSS", "PROBES", "")]
    for i, source in enumerate(matrix.members):
        if i in matrix.missing:
            rows.append((source.name, "-", "-", "-", "-", matrix.missing[i]))
            continue
        for j, target in enumerate(matrix.columns):
            cell = matrix.cell(i, j)
            if j == i:
                continue
            if cell is None:
                rows.append((source.name, target.name, "-", "-", "-", "not probed"))
                continue
            p50 = "-" if cell.p50 is None else ms(cell.p50)
            loss = "-" if not cell.probes else f"{pct(cell.lost, cell.probes)}%"
            rows.append((source.name, target.name, p50, loss, str(cell.probes), cell.last_error or ""))
    return render.table(rows) + verdict_lines(matrix, verdict)


def _member(member: mx.Member) -> dict[str, Any]:
    return {"name": member.name, "node_id": member.node_id, "address": member.address, "port": member.port}


def _line_json(line: Line | None) -> dict[str, Any] | None:
    if line is None:
        return None
    return {"cells": line.cells, "probes": line.probes, "lost": line.lost, "loss": round(line.loss, 6),
            "p50_seconds": line.p50, "slow_cells": line.slow_cells, "lossy": line.lossy, "slow": line.slow}  # fmt: skip


def _host_json(host: Host, verdict: Verdict) -> dict[str, Any]:
    reason = host_reason(host, verdict)
    return {"name": host.name, "reason": reason, "row": _line_json(host.row), "column": _line_json(host.column)}


def document(matrix: Matrix, verdict: Verdict) -> dict[str, Any]:
    """``--json``: the members, every path's figures, the rows without tables, the verdict."""
    names = [m.name for m in matrix.columns]
    ids = [m.node_id for m in matrix.columns]
    cells = [{"from": names[i], "to": names[j], "from_node_id": ids[i], "to_node_id": ids[j],
              "p50_seconds": c.p50, "p90_seconds": c.p90,
              "loss": None if c.loss is None else round(c.loss, 6), "probes": c.probes, "lost": c.lost,
              "last_error": c.last_error} for (i, j), c in sorted(matrix.cells.items())]  # fmt: skip
    not_probed = [{"from": names[i], "to": names[j], "from_node_id": ids[i], "to_node_id": ids[j]}
                  for i in range(len(matrix.members)) if i not in matrix.missing
                  for j in range(len(names)) if j != i and (i, j) not in matrix.cells]  # fmt: skip
    return {
        "members": [_member(m) for m in matrix.members],
        "found_by_peers_only": [_member(m) for m in matrix.extras],
        "cells": cells,
        "not_probed": not_probed,
        "without_table": [{"name": names[i], "reason": why} for i, why in sorted(matrix.missing.items())],
        "verdict": {
            "judged": verdict.judged,
            "tables": verdict.tables,
            "fleet_p50_seconds": verdict.fleet_p50,
            "fleet_loss": verdict.fleet_loss,
            "hosts": [_host_json(h, verdict) for h in verdict.hosts],
            "links": [{"from": k.source, "to": k.target, "reason": link_reason(k, verdict)} for k in verdict.links],
            "note": None if verdict.hosts or verdict.links else verdict_lines(matrix, verdict)[0],
        },
    }
