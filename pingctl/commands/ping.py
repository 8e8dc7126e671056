"""``pingctl ping``: its options, the checks that are about flags, and one call,
``pingctl.pinging.ping``, for one daemon or several at once."""

from __future__ import annotations

import os
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
from pingctl.limits import DISCOVER_WINDOW, MAX_DEADLINE, MAX_INTERVAL, MAX_TIMEOUT, check_seconds

Names = Annotated[
    Optional[list[str]],
    typer.Option(
        help="Choose the daemon announced under this instance name; repeat it to ping several at once.",
        show_default=False,
    ),
]
Count = Annotated[int, typer.Option("--count", "-c", help="Pings to send; 0 sends until interrupted.")]
Interval = Annotated[float, typer.Option("--interval", "-i", help="Seconds between pings; 0 goes flat out.")]
Deadline = Annotated[
    Optional[float],
    typer.Option("--deadline", "-w", help="Stop after this many seconds, whatever the count.", show_default=False),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print only the summary.")]
Histogram = Annotated[
    bool, typer.Option("--histogram", help="After the summary, the latency distribution in log-spaced buckets.")
]
Samples = Annotated[bool, typer.Option("--samples", help="With --json: include every ping's seq, RTT and count.")]
NoColor = Annotated[bool, typer.Option("--no-color", help="No colours in the live view (NO_COLOR is honoured too).")]
AllDaemons = Annotated[
    bool,
    typer.Option(
        "--all",
        help=f"Ping every daemon discovery finds (listening {DISCOVER_WINDOW:g} s), all at once: one row each.",
    ),
]


def ping(
    server_ip: ServerIp = None,
    port: Port = None,
    name: Names = None,
    count: Count = 100,
    interval: Interval = 2.0,
    timeout: Timeout = 1.0,
    deadline: Deadline = None,
    discovery_timeout: DiscoveryTimeout = 3.0,
    mdns_interface: MdnsInterface = None,
    json_output: Json = False,
    quiet: Quiet = False,
    histogram: Histogram = False,
    samples: Samples = False,
    no_color: NoColor = False,
    server_key: ServerKey = None,
    all_daemons: AllDaemons = False,
    domain: Domain = None,
) -> None:
    """Send pings to a daemon and report each round trip, then the statistics.

    On a terminal the session is shown live; piped, it prints one line per pong, as ping does.
    SIGQUIT (Ctrl-\\) prints the statistics so far without stopping; Ctrl-C stops and
    prints the summary.

    With --all (or several --name), every daemon gets its own session on the same schedule:
    a live table on a terminal; piped, one fping-style summary line per daemon.
    """
    check(count, interval, deadline, timeout, samples=samples, json_output=json_output)
    names = name or []
    several = all_daemons or len(names) > 1
    if several:
        given = [flag for flag, value in (("--server-ip", server_ip), ("--port", port), ("--server-key", server_key),
                                          ("--histogram", histogram)) if value]  # fmt: skip
        if given:
            raise PingctlError(f"--all and several --name ping the daemons discovery finds: drop {', '.join(given)}")
    from pingctl import pinging
    from pingctl.connect import WantedAll
    from pingctl.session import Schedule

    one = names[0] if names else None
    who = (
        WantedAll(tuple(names), tuple(mdns_interface or ()), domain)
        if several
        else wanted(server_ip, port, one, discovery_timeout, mdns_interface, server_key, domain)
    )
    color = not no_color and not os.environ.get("NO_COLOR")
    view = pinging.View(json_output=json_output, quiet=quiet, samples=samples, histogram=histogram, color=color)
    raise typer.Exit(pinging.ping(who, Schedule(count, interval, timeout, deadline), view))


def check(
    count: int, interval: float, deadline: float | None, timeout: float, *, samples: bool, json_output: bool
) -> None:
    """The session's numbers in range, and --samples only with --json (PingctlError if not)."""
    if count < 0:
        raise PingctlError("--count must be 0 (until interrupted) or more")
    check_seconds("--interval", interval, MAX_INTERVAL, zero_ok=True)
    check_seconds("--deadline", deadline, MAX_DEADLINE)
    check_seconds("--timeout", timeout, MAX_TIMEOUT)
    if samples and not json_output:
        raise PingctlError("--samples adds per-ping samples to the JSON output; use it with --json")
