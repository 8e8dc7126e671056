"""``pingctl discover``: its options and one call, ``pingctl.listing.discover``, once or
watching."""

from __future__ import annotations

from typing import Annotated

import typer

from pingctl.commands.options import Domain, Json, MdnsInterface
from pingctl.limits import DISCOVER_WINDOW, MAX_DISCOVERY, check_seconds

Listen = Annotated[float, typer.Option(help="Seconds to listen for daemons.")]
Watch = Annotated[
    bool,
    typer.Option(
        "--watch",
        help=(
            "Keep listening: show daemons as they come and go, until interrupted (as avahi-browse). "
            "With --domain, the domain is asked again every 5 s."
        ),
    ),
]


def discover(
    timeout: Listen = DISCOVER_WINDOW,
    mdns_interface: MdnsInterface = None,
    json_output: Json = False,
    watch: Watch = False,
    domain: Domain = None,
) -> None:
    """List every pingd announced on the LAN (mDNS/DNS-SD) or registered in a DNS domain."""
    check_seconds("--timeout", timeout, MAX_DISCOVERY)
    from pingctl import listing

    interfaces = tuple(mdns_interface or ())
    raise typer.Exit(listing.discover(timeout, interfaces, domain, json_output=json_output, watch=watch))
