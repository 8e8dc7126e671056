"""Announcements with nothing (or anything) behind them.

    python -m tests.support.announcer NAME INTERFACE_ADDRESS TTL

announces a pingd whose records live ``TTL`` seconds, for testing how watchers treat a
daemon that vanishes without a goodbye (kill it with SIGKILL): it prints ``announced`` once
the name is registered, then keeps answering (re-asks refresh the records) for at most a
minute. ``forged`` announces, in-process and for a ``with`` block, whatever TXT record an
attacker on the link would.
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from zeroconf import ServiceInfo, Zeroconf

from pingd.shared import protocol, service

LIFETIME = 60.0


def main(name: str, interface: str, ttl: int) -> None:
    zc = Zeroconf(interfaces=[interface])
    info = ServiceInfo(
        service.SERVICE_TYPE,
        f"{name}.{service.SERVICE_TYPE}",
        addresses=[socket.inet_aton(interface)],
        port=9,  # discard: nothing is served
        properties={
            service.TXT_VERSION: "1",
            service.TXT_PROTOCOL: str(protocol.VERSION),
            service.TXT_PINGD: "0.0.0",
            service.TXT_NODE_ID: "f" * 16,
        },
        server=f"{name}-host.local.",
        host_ttl=ttl,
        other_ttl=ttl,
    )
    zc.register_service(info)
    print("announced", flush=True)
    time.sleep(LIFETIME)
    zc.close()


@contextmanager
def forged(name: str, interface: str, txt: Mapping[str, str], port: int = 9) -> Iterator[None]:
    """``name`` announced over mDNS on ``interface`` (loopback in tests) with the TXT record
    ``txt`` verbatim, pointing at ``interface``:``port``; goodbye on exit."""
    zc = Zeroconf(interfaces=[interface])
    info = ServiceInfo(
        service.SERVICE_TYPE,
        f"{name}.{service.SERVICE_TYPE}",
        addresses=[socket.inet_aton(interface)],
        port=port,
        properties=dict(txt),
        server=f"forged-{abs(hash(name)) % 10**8}.local.",
    )
    try:
        zc.register_service(info)
        yield
    finally:
        zc.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
