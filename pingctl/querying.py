"""`pingctl status`'s work: one daemon's status, once or watched, or every daemon's at once.

Printed as text (or, with --json, a JSON document); a watched status is redrawn in place on a
terminal (``pingctl.show.status_watch``); every daemon's is one table, a row each, with the
reason for each that gave no status.
"""

from __future__ import annotations

import json
import os
import sys

from pingctl import fleet
from pingctl.connect import Wanted, WantedAll, choose_all, connect, reach_all
from pingctl.errors import EXIT_NO_REPLY, EXIT_OK, explain
from pingctl.show import output, render
from pingctl.show.status_watch import watch_status


def status(who: Wanted | WantedAll, timeout: float, *, json_output: bool, watch: float | None) -> int:
    """`pingctl status`: one daemon's (refreshed every ``watch`` seconds until Ctrl-C, if
    given), or every daemon's. The exit code: 0, or for every daemon, 1 when some did not answer."""
    if isinstance(who, WantedAll):
        return _status_all(who, timeout, json_output)
    client, info = connect(who, timeout, quiet=json_output)
    if watch is None:
        client.close()
        if json_output:
            print(json.dumps(render.status_json(info, client.target), indent=2))
        else:
            print("\n".join(render.status_lines(client.target, info)))
        return EXIT_OK
    try:
        terminal = sys.stdout.isatty()
        out = output.choose(
            json_output=json_output, terminal=terminal, color=not os.environ.get("NO_COLOR"), transient=False
        )
        watch_status(client, info, watch, out)
    except KeyboardInterrupt:
        pass
    finally:
        client.close()
    return EXIT_OK


def _status_all(who: WantedAll, timeout: float, json_output: bool) -> int:
    found, _ = choose_all(who)
    context = fleet.context_for(len(found))
    try:
        results = fleet.closed(reach_all(found, timeout, context))
    finally:
        context.destroy(linger=0)
    if json_output:
        print(json.dumps([_document(r) for r in results], indent=2))
    else:
        print("\n".join(render.table(render.fleet_status_rows(results, explain))))
    return EXIT_OK if all(r.status is not None for r in results) else EXIT_NO_REPLY


def _document(answer: fleet.DaemonStatus) -> dict[str, object]:
    """`status --json`'s document for a daemon that answered; for one that did not, why."""
    if answer.status is not None and answer.target is not None:
        return render.status_json(answer.status, answer.target)
    why = explain(answer.error) if answer.error else None
    return {"name": answer.found.name, "addresses": list(answer.found.addresses), "error": why}
