"""Which responder carries pingd's mDNS records, for each setting and host."""

from __future__ import annotations

import pytest

from pingd.announce import backend
from pingd.announce.backend import AVAHI, ZEROCONF, Choice


def never() -> str | None:
    raise AssertionError("the system bus was asked, though the setting decides")


LAN = ["10.0.0.5"]


@pytest.mark.parametrize(
    ("setting", "interfaces", "addresses", "missing", "expected"),
    [
        ("zeroconf", (), LAN, never, Choice(ZEROCONF, "mdns_backend is zeroconf")),
        ("avahi", (), LAN, never, Choice(AVAHI, "mdns_backend is avahi")),
        ("auto", (), LAN, lambda: None, Choice(AVAHI, "avahi-daemon is on the system bus")),
        ("auto", (), LAN, lambda: "no system bus: no such file", Choice(ZEROCONF, "no system bus: no such file")),
        ("auto", ("10.0.0.5",), LAN, lambda: None, Choice(AVAHI, "avahi-daemon is on the system bus")),
        # Avahi never uses loopback: the demo's --mdns-interface 127.0.0.1 stays pingd's own...
        ("auto", ("10.0.0.5", "127.0.0.1"), LAN, never,
         Choice(ZEROCONF, "avahi-daemon never announces on loopback (127.0.0.1)")),
        ("auto", ("::1",), ["::1"], never, Choice(ZEROCONF, "avahi-daemon never announces on loopback (::1)")),
        # ...and so is a daemon that listens on loopback only (--bind 127.0.0.1).
        ("auto", (), ["127.0.0.1"], never,
         Choice(ZEROCONF, "avahi-daemon never announces loopback addresses (127.0.0.1)")),
    ],
)  # fmt: skip
def test_the_choice(setting, interfaces, addresses, missing, expected):
    assert backend.choose(setting, interfaces, addresses, missing) == expected


def test_the_log_line_says_which_and_why():
    assert Choice(AVAHI, "avahi-daemon is on the system bus").log_line() == (
        "mDNS: announcing through avahi-daemon (D-Bus): avahi-daemon is on the system bus"
    )
    assert Choice(ZEROCONF, "mdns_backend is zeroconf").log_line() == (
        "mDNS: announcing with its own responder (python-zeroconf): mdns_backend is zeroconf"
    )
