"""``pingctl monitor``: its options, the checks that are about flags, and one call,
``pingctl.monitoring.monitor``."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from pingctl.commands.options import Domain, MdnsInterface, ServerKey, Timeout
from pingctl.errors import PingctlError
from pingctl.limits import MAX_INTERVAL, MAX_TIMEOUT, check_seconds
from pingd.shared.keys import is_key
from pingd.shared.protocol import DEFAULT_PORT

#: Next to pingd (7464) and its own metrics (7465), and outside the range the Prometheus project
#: hands out to exporters (9100-9999), so no exporter on the host claims it first.
DEFAULT_LISTEN = "127.0.0.1:7466"

Interval = Annotated[float, typer.Option("--interval", "-i", help="Seconds between two probes of each daemon.")]
Listen = Annotated[
    str,
    typer.Option(
        help=(
            "Serve Prometheus metrics at http://ADDR:PORT/metrics (port 0: any free port, printed at start). "
            "7466 sits next to pingd's 7464 and its metrics' 7465, outside the exporters' 9100-9999."
        ),
        metavar="ADDR:PORT",
    ),
]
ForgetAfter = Annotated[
    float,
    typer.Option(help="Seconds a daemon that left is still probed before its series are removed (unless it returns)."),
]
Names = Annotated[
    Optional[list[str]],
    typer.Option(help="Probe only the daemon announced under this instance name (repeatable).", show_default=False),
]
ServerIps = Annotated[
    Optional[list[str]],
    typer.Option(
        "--server-ip",
        help="Probe this daemon, HOST or HOST:PORT (repeatable), instead of those discovery finds.",
        show_default=False,
    ),
]
Port = Annotated[
    Optional[int],
    typer.Option(help=f"The port of each --server-ip given without one. [default: {DEFAULT_PORT}]", show_default=False),
]


def monitor(
    interval: Interval = 1.0,
    timeout: Timeout = 1.0,
    listen: Listen = DEFAULT_LISTEN,
    forget_after: ForgetAfter = 300.0,
    mdns_interface: MdnsInterface = None,
    domain: Domain = None,
    name: Names = None,
    server_ip: ServerIps = None,
    port: Port = None,
    server_key: ServerKey = None,
) -> None:
    """Probe every pingd discovery finds, as they come and go, and serve the round trips,
    losses and counts as Prometheus metrics (a smokeping for pingd).

    Each daemon is pinged every --interval on a schedule of its own; a ping not answered within
    --timeout is lost, never sent again. A daemon that leaves is still probed for --forget-after
    seconds, then its series are removed. Runs until SIGINT or SIGTERM (exit 0).
    """
    check_seconds("--interval", interval, MAX_INTERVAL)
    check_seconds("--timeout", timeout, MAX_TIMEOUT)
    check_seconds("--forget-after", forget_after, MAX_INTERVAL, zero_ok=True)
    given = tuple(server_ip or ())
    if given and (name or domain or mdns_interface):
        raise PingctlError("--server-ip probes the addresses given: drop --name, --domain and --mdns-interface")
    if not given and (port is not None or server_key is not None):
        raise PingctlError("--port and --server-key go with --server-ip")
    if server_key is not None and not is_key(server_key):
        raise PingctlError("--server-key takes a 40-character Z85 CURVE public key (as pingd logs it)")
    if port is not None and not 1 <= port <= 65535:
        raise PingctlError(f"port {port} is out of range (1-65535); check --port")
    from pingctl import monitoring

    plan = monitoring.Plan(
        interval=interval,
        timeout=timeout,
        forget_after=forget_after,
        listen=listen,
        interfaces=tuple(mdns_interface or ()),
        domain=domain,
        names=tuple(name or ()),
        given=given,
        port=DEFAULT_PORT if port is None else port,
        server_key=server_key,
    )
    raise typer.Exit(monitoring.monitor(plan))
