"""``pingctl status``: its options, the checks that are about flags, and one call,
``pingctl.querying.status``, for one daemon (once or watched) or every daemon found."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from pingctl.commands.options import (
    DiscoveryTimeout,
    Domain,
    Json,
    MdnsInterface,
    Port,
    ServerIp,
    ServerKey,
    Timeout,
    wanted,
)
from pingctl.errors import PingctlError
from pingctl.limits import DISCOVER_WINDOW, MAX_INTERVAL, MAX_TIMEOUT, check_seconds

Name = Annotated[
    Optional[str], typer.Option(help="Choose the daemon announced under this instance name.", show_default=False)
]
Watch = Annotated[
    Optional[float],
    typer.Option(
        "--watch",
        help="Refresh every S seconds until interrupted (--watch alone: every 1 s).",
        show_default=False,
        metavar="[S]",
    ),
]
AllDaemons = Annotated[
    bool,
    typer.Option("--all", help=f"Every daemon discovery finds (listening {DISCOVER_WINDOW:g} s): one table."),
]


def status(
    server_ip: ServerIp = None,
    port: Port = None,
    name: Name = None,
    timeout: Timeout = 1.0,
    discovery_timeout: DiscoveryTimeout = 3.0,
    mdns_interface: MdnsInterface = None,
    json_output: Json = False,
    watch: Watch = None,
    server_key: ServerKey = None,
    all_daemons: AllDaemons = False,
    domain: Domain = None,
) -> None:
    """Show a daemon's count, identity, uptime and durability (or every daemon's, with --all)."""
    check_seconds("--watch", watch, MAX_INTERVAL)
    check_seconds("--timeout", timeout, MAX_TIMEOUT)
    if all_daemons and (server_ip is not None or name is not None or watch is not None or server_key is not None):
        raise PingctlError("--all asks every daemon discovery finds: drop --server-ip, --name, --watch, --server-key")
    from pingctl import querying
    from pingctl.connect import WantedAll

    who = (
        WantedAll(interfaces=tuple(mdns_interface or ()), domain=domain)
        if all_daemons
        else wanted(server_ip, port, name, discovery_timeout, mdns_interface, server_key, domain)
    )
    raise typer.Exit(querying.status(who, timeout, json_output=json_output, watch=watch))


def optional_watch_value(argv: list[str]) -> list[str]:
    """``argv`` with `status --watch` standing alone made `--watch 1` (every 1 s); click's
    options take a value or none, not either. (`discover --watch` is a plain switch.)"""
    out = []
    for i, arg in enumerate(argv):
        out.append(arg)
        if arg == "--watch" and "status" in argv[:i]:
            following = argv[i + 1] if i + 1 < len(argv) else ""
            try:
                float(following)
            except ValueError:
                out.append("1")
    return out
