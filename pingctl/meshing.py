"""`pingctl mesh`'s work: ask every daemon discovery finds for its peer table, all at once, and
show the N × N matrix with the outliers named (``pingctl.matrix``, ``pingctl.show.meshview``).

A row is one daemon's probes of its peers; a daemon that does not probe, refuses pingctl (CURVE,
an allow-list), does not answer, or is older than PEERS still has its row, saying which.
"""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pingctl import fleet
from pingctl import matrix as mx
from pingctl.connect import WantedAll, choose_all, reach_all
from pingctl.errors import EXIT_NO_REPLY, EXIT_OK, ClientError, explain
from pingctl.show import meshview


def mesh(who: WantedAll, timeout: float, *, json_output: bool, terminal: bool, colour: bool) -> int:
    """The matrix of every daemon found. Exit 0 when at least one daemon gave its table, else 1."""
    found, _ = choose_all(who)
    context = fleet.context_for(len(found))
    answers: list[fleet.DaemonStatus] = []
    try:
        answers = reach_all(found, timeout, context)
        tables = _tables(answers, timeout)
    finally:
        fleet.closed(answers)
        context.destroy(linger=0)
    members = {_member(answer): table for answer, table in zip(answers, tables, strict=True)}
    grid = mx.build(members, members)
    verdict = mx.outliers(grid)
    if json_output:
        print(json.dumps(meshview.document(grid, verdict), indent=2))
    elif terminal:
        width = shutil.get_terminal_size().columns
        print("\n".join(meshview.heatmap_lines(grid, verdict, colour=colour, width=width)))
    else:
        print("\n".join(meshview.table_lines(grid, verdict)))
    return EXIT_OK if grid.tables else EXIT_NO_REPLY


def _tables(answers: list[fleet.DaemonStatus], timeout: float) -> list[mx.Table]:
    """Each daemon's table, or why there is none, asked of every daemon at once."""

    def ask(answer: fleet.DaemonStatus) -> mx.Table:
        if answer.client is None:
            return explain(answer.error) if answer.error is not None else "no answer"
        try:
            return answer.client.peers(timeout)
        except ClientError as exc:
            return explain(exc)

    if not answers:
        return []
    with ThreadPoolExecutor(max_workers=min(len(answers), fleet.parallel_for(len(answers)))) as pool:
        return list(pool.map(ask, answers))


def _member(answer: fleet.DaemonStatus) -> mx.Member:
    """A daemon as the matrix names it: by the address it answered on, else as announced."""
    f = answer.found
    node_id: Any = answer.status.node_id if answer.status is not None else f.node_id
    if answer.target is not None:
        return mx.Member(name=f.name, node_id=node_id, address=answer.target.address, port=answer.target.port)
    return mx.Member(name=f.name, node_id=node_id, address=f.addresses[0] if f.addresses else "", port=f.port)
