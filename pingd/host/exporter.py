"""pingd's metrics endpoint, bound where the ``metrics`` setting says, at start: ``bind_for`` runs
in ``create_daemon``, and an address that cannot be listened on stops the start in one line,
as the serving port's does. The server itself (bounded, never in the loop's way, a stop that
stays fast) is ``pingd.shared.metricsserver``'s, which `pingctl monitor` serves with too.
"""

from __future__ import annotations

import errno

from pingd.errors import EXIT_LISTEN, StartupError
from pingd.settings import Config
from pingd.shared.metricsserver import MetricsServer, WsgiApp

__all__ = ["MetricsServer", "WsgiApp", "bind_for"]


def bind_for(config: Config) -> MetricsServer | None:
    """The server the ``metrics`` setting asks for, bound (None when it is off); an address
    that cannot be listened on is one line naming the setting, and the listening exit code."""
    address = config.metrics_address
    if address is None:
        return None
    try:
        return MetricsServer.bind(*address)
    except OSError as exc:
        hint = {
            errno.EADDRINUSE: "another program listens there; choose another port",
            errno.EADDRNOTAVAIL: "this host has no such address",
            errno.EACCES: "permission denied; use a port above 1023",
        }.get(exc.errno or 0, "check the address")
        problem = f"cannot serve metrics on {config.metrics}: {exc.strerror or exc}; {hint}"
        raise StartupError(f"{problem} ({config.origin('metrics')})", EXIT_LISTEN) from None
