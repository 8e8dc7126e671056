"""Options more than one command takes, declared once: where the daemon is, how to find it,
and how to print. Each is an ``Annotated`` type, so a command's signature is one line per
option and ``--help`` (and the man page, made from the same objects) reads the same for each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Optional

import typer

from pingd.shared.protocol import DEFAULT_PORT

if TYPE_CHECKING:
    from pingctl.connect import Wanted

ServerIp = Annotated[
    Optional[str],
    typer.Option(
        "--server-ip", help="Daemon address (IPv4, IPv6 or host name); skips mDNS discovery.", show_default=False
    ),
]
Port = Annotated[
    Optional[int], typer.Option(help=f"Daemon port, with --server-ip. [default: {DEFAULT_PORT}]", show_default=False)
]
DiscoveryTimeout = Annotated[float, typer.Option(help="Seconds to look for a daemon by mDNS.")]
MdnsInterface = Annotated[
    Optional[list[str]],
    typer.Option(help="Use mDNS only on this interface address (repeatable). [default: all]", show_default=False),
]
Timeout = Annotated[float, typer.Option(help="Seconds to wait for each reply.")]
ServerKey = Annotated[
    Optional[str],
    typer.Option(
        "--server-key",
        help=(
            "The daemon's CURVE public key (40 characters): connect encrypted and accept only that daemon. "
            "[default: the key discovery announces, trusted on first use]"
        ),
        show_default=False,
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of text.")]
Domain = Annotated[
    Optional[str],
    typer.Option(
        help=(
            "Find daemons registered in this DNS domain (DNS-SD over unicast DNS) instead of by mDNS. "
            "[default: mDNS, and the browse domains the network suggests]"
        ),
        show_default=False,
    ),
]


def wanted(
    server_ip: str | None,
    port: int | None,
    name: str | None,
    discovery_timeout: float,
    mdns_interface: list[str] | None,
    server_key: str | None,
    domain: str | None,
) -> Wanted:
    """The one daemon the options name (``pingctl.connect`` checks and finds it)."""
    from pingctl.connect import Wanted

    return Wanted(
        server_ip=server_ip,
        port=port,
        name=name,
        domain=domain,
        interfaces=tuple(mdns_interface or ()),
        discovery_timeout=discovery_timeout,
        server_key=server_key,
    )
