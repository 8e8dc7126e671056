"""Which responder carries pingd's mDNS records, for each setting and host."""

from __future__ import annotations

import pytest

from pingd.announce import backend
from pingd.announce.backend import AVAHI, ZEROCONF, Choice


def never() -> str | None:
    raise AssertionError("the system bus was asked, though the setting decides")


@pytest.mark.parametrize(
    ("setting", "interfaces", "missing", "expected"),
    [
        ("zeroconf", (), never, Choice(ZEROCONF, "mdns_backend is zeroconf")),
        ("avahi", (), never, Choice(AVAHI, "mdns_backend is avahi")),
        ("auto", (), lambda: None, Choice(AVAHI, "avahi-daemon is on the system bus")),
        ("auto", (), lambda: "no system bus: no such file", Choice(ZEROCONF, "no system bus: no such file")),
        ("auto", ("10.0.0.5",), lambda: None, Choice(AVAHI, "avahi-daemon is on the system bus")),
        # Avahi never uses loopback: the demo's --mdns-interface 127.0.0.1 stays pingd's own.
        (
            "auto",
            ("10.0.0.5", "127.0.0.1"),
            never,
            Choice(ZEROCONF, "avahi-daemon never announces on loopback (127.0.0.1)"),
        ),
        ("auto", ("::1",), never, Choice(ZEROCONF, "avahi-daemon never announces on loopback (::1)")),
    ],
)
def test_the_choice(setting, interfaces, missing, expected):
    assert backend.choose(setting, interfaces, missing) == expected


def test_the_log_line_says_which_and_why():
    assert Choice(AVAHI, "avahi-daemon is on the system bus").log_line() == (
        "mDNS: announcing through avahi-daemon (D-Bus): avahi-daemon is on the system bus"
    )
    assert Choice(ZEROCONF, "mdns_backend is zeroconf").log_line() == (
        "mDNS: announcing with its own responder (python-zeroconf): mdns_backend is zeroconf"
    )
