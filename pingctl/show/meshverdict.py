"""What `pingctl mesh` says of its verdict: the host or link named and why, in figures, or why
nothing is (the same words on a terminal, in a pipe and in ``--json``)."""

from __future__ import annotations

from pingctl import matrix as mx
from pingctl.matrix import Host, Link, Matrix, Verdict
from pingctl.show.text import shown


def ms(seconds: float) -> str:
    """Milliseconds to 3 significant digits: 0.31, 41.2, 412; 1234 from a second on."""
    millis = seconds * 1000
    text = f"{millis:.3g}"
    if "e" not in text:
        return text
    if millis < 1:
        return "0"
    return f"{millis:.0f}" if millis < 1e7 else ">1e7"  # a day and more: no figure of 300 digits


def pct(lost: int, probes: int) -> str:
    """A loss in whole percent, never rounded to 0 or 100 when it is not."""
    share = 100 * lost / probes
    return "<1" if lost and share < 0.5 else ">99" if lost < probes and share >= 99.5 else f"{share:.0f}"


def fleet_loss(verdict: Verdict) -> str:
    loss = verdict.fleet_loss or 0.0
    return f", fleet {100 * loss:.0f} %" if loss >= 0.005 else ""


def host_reason(host: Host, verdict: Verdict) -> str:
    """Why ``host`` is named, from its hot lines' figures (without its name)."""
    row = host.row if host.row is not None and host.row.hot else None
    column = host.column if host.column is not None and host.column.hot else None
    parts = []
    if column is not None and column.lossy and column.answered == 0 and column.lost == column.probes:
        # Not a lossy path but no daemon at all: a daemon stopped (whose peers keep probing it
        # for a while: their mDNS querier hears no goodbye), a host down, or a refusal.
        parts.append(f"no peer had an answer from it ({column.lost} of {column.probes} probes lost): "
                     "stopped, unreachable, or refusing connections")  # fmt: skip
        column = None
    if row is not None and row.lossy and column is not None and column.lossy:
        both = pct(row.lost + column.lost, row.probes + column.probes)
        parts.append(f"its probes and answers lose {both} %{fleet_loss(verdict)}")
    else:
        for line, what in ((row, "probes"), (column, "answers")):
            if line is not None and line.lossy:
                parts.append(f"its {what} lose {pct(line.lost, line.probes)} %{fleet_loss(verdict)}")
    fleet = ms(verdict.fleet_p50 or 0.0)
    if row is not None and row.slow and column is not None and column.slow:
        parts.append(f"its probes and answers are slow: p50 {ms(row.p50 or 0.0)} and {ms(column.p50 or 0.0)} ms, "
                     f"fleet {fleet} ms")  # fmt: skip
    else:
        for line, what in ((row, "probes"), (column, "answers")):
            if line is not None and line.slow:
                parts.append(f"its {what} are slow to {line.slow_cells} of {line.answered} peers: "
                             f"p50 {ms(line.p50 or 0.0)} ms, fleet {fleet} ms")  # fmt: skip
    return "; ".join(parts)


def link_reason(link: Link, verdict: Verdict) -> str:
    """Why ``link`` is named (without its ends' names)."""
    parts = []
    if link.slow:
        parts.append(f"p50 {ms(link.cell.p50 or 0.0)} ms, fleet {ms(verdict.fleet_p50 or 0.0)} ms")
    if link.lossy:
        parts.append(f"loses {link.cell.lost} of {link.cell.probes} probes{fleet_loss(verdict)}")
    return "; ".join(parts)


def verdict_lines(matrix: Matrix, verdict: Verdict) -> list[str]:
    """The hosts and links named, each with its reason; or why none is."""
    if verdict.tables < mx.MIN_TABLES:
        return [f"no verdict: {verdict.tables} of {len(matrix.members)} daemons gave a peer table, and it takes "
                f"{mx.MIN_TABLES} to tell a host's fault from its peers'"]  # fmt: skip
    if verdict.fleet_loss is None:
        return ["no verdict: no daemon has probed a peer within its window yet"]
    lines = [f"the host: {shown(host.name)} — {host_reason(host, verdict)}" for host in verdict.hosts]
    lines += [f"the link: {shown(link.source)} → {shown(link.target)} — {link_reason(link, verdict)}"
              for link in verdict.links]  # fmt: skip
    if lines:
        return lines
    if verdict.fleet_p50 is None:
        return ["no outlier: no probe was answered, by any daemon"]
    loss = f" ({fleet_loss(verdict)[2:]})" if fleet_loss(verdict) else ""
    return [
        f"no outlier: every row and column within {mx.SLOW_FACTOR:g} × the fleet's p50 + {1000 * mx.SLOW_FLOOR:g} ms "
        f"({ms(verdict.slow_limit)} ms; the fleet's p50 is {ms(verdict.fleet_p50)} ms) and the fleet's loss{loss} "
        f"+ {100 * mx.LINE_LOSS_MARGIN:.0f} %; every link within {mx.CELL_SLOW_FACTOR:g} × the fleet's p50 + "
        f"{1000 * mx.CELL_SLOW_FLOOR:g} ms and + {100 * mx.CELL_LOSS_MARGIN:.0f} % loss"
    ]
