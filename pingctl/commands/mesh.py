"""``pingctl mesh``: its options and one call, ``pingctl.meshing.mesh``: every daemon found asked
for its peer table, shown as the fleet's latency matrix with the slow host or link named."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from pingctl.commands.options import Domain, Json, MdnsInterface, Timeout
from pingctl.limits import MAX_TIMEOUT, check_seconds

NoColor = Annotated[bool, typer.Option("--no-color", help="No colours in the heatmap (NO_COLOR is honoured too).")]


def mesh(
    timeout: Timeout = 2.0,
    mdns_interface: MdnsInterface = None,
    domain: Domain = None,
    json_output: Json = False,
    no_color: NoColor = False,
) -> None:
    """Show the fleet's latency matrix from every daemon's mesh probes (pingd --mesh): p50 and loss
    per pair, and the host or link that is slow."""
    check_seconds("--timeout", timeout, MAX_TIMEOUT)
    from pingctl import meshing
    from pingctl.connect import WantedAll

    who = WantedAll(interfaces=tuple(mdns_interface or ()), domain=domain)
    colour = not no_color and not os.environ.get("NO_COLOR")
    code = meshing.mesh(who, timeout, json_output=json_output, terminal=sys.stdout.isatty(), colour=colour)
    raise typer.Exit(code)
