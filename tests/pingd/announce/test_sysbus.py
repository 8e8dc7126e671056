"""The system bus as the Avahi announcer uses it, against a real dbus-daemon of the test's own
(a private bus at a path of its own, given as $DBUS_SYSTEM_BUS_ADDRESS)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading

import pytest
from jeepney import DBusAddress, MatchRule

from pingd.announce import sysbus
from pingd.announce.sysbus import BusError, Interrupted, Refused, SystemBus
from tests.conftest import require

BUS = DBusAddress("/org/freedesktop/DBus", bus_name="org.freedesktop.DBus", interface="org.freedesktop.DBus")


@pytest.fixture
def bus_address(tmp_path, monkeypatch):
    """A dbus-daemon of this test's own, as the system bus; stopped at the end."""
    require(None if shutil.which("dbus-daemon") else "needs dbus-daemon (Debian: dbus)")
    path = tmp_path / "bus"
    config = tmp_path / "bus.conf"
    config.write_text(
        "<!DOCTYPE busconfig PUBLIC '-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN'"
        " 'http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd'>\n"
        f"<busconfig><type>session</type><listen>unix:path={path}</listen><auth>EXTERNAL</auth>"
        "<policy context='default'><allow send_destination='*' eavesdrop='true'/><allow eavesdrop='true'/>"
        "<allow own='*'/></policy></busconfig>\n"
    )
    daemon = subprocess.Popen(
        ["dbus-daemon", "--nofork", "--print-address", f"--config-file={config}"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert daemon.stdout is not None and daemon.stdout.readline().startswith("unix:")
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={path}")
        yield path
    finally:
        daemon.terminate()
        daemon.wait(10)


def test_calls_answers_and_errors(bus_address):
    bus = SystemBus.open()
    try:
        assert bus.unique_name.startswith(":")
        assert bus.has_owner("org.freedesktop.DBus") and not bus.has_owner("org.freedesktop.Avahi")
        assert bus.owner_of("org.freedesktop.Avahi") is None
        with pytest.raises(BusError) as info:
            bus.call(BUS, "NoSuchMethod")
        assert info.value.name == "org.freedesktop.DBus.Error.UnknownMethod"
    finally:
        bus.close()


def test_signals_come_in_order_and_a_wait_ends_when_nothing_comes(bus_address):
    bus, other = SystemBus.open(), SystemBus.open()
    try:
        bus.subscribe(MatchRule(type="signal", interface="org.freedesktop.DBus", member="NameOwnerChanged"))
        for name in ("org.example.A", "org.example.B"):
            other.call(BUS, "RequestName", "su", (name, 0))
        owned = []
        while len(owned) < 2:
            signal = bus.next_signal(5.0)
            assert signal is not None, "no NameOwnerChanged within 5 s"
            if sysbus.body_of(signal)[0].startswith("org.example."):
                owned.append(sysbus.body_of(signal)[0])
                assert sysbus.sender_of(signal) == "org.freedesktop.DBus"
        assert owned == ["org.example.A", "org.example.B"]
        assert bus.next_signal(0.05) is None
    finally:
        bus.close()
        other.close()


def test_interrupt_from_another_thread_ends_a_wait(bus_address):
    bus = SystemBus.open()
    try:
        timer = threading.Timer(0.1, bus.interrupt)
        timer.start()
        with pytest.raises(Interrupted):
            for _ in range(10):  # the bus's own NameAcquired may come first
                bus.next_signal(None)
        bus.resume()
        assert bus.has_owner("org.freedesktop.DBus")  # usable again, for the last calls
    finally:
        bus.close()


def test_no_bus_is_an_oserror_and_a_bus_that_turns_pingd_away_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path / 'none'}")
    with pytest.raises(FileNotFoundError):
        SystemBus.open()
    path = tmp_path / "rude"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen()

    def slam() -> None:  # accepts, reads the first bytes, closes: as a bus that will not have us
        conn, _ = server.accept()
        conn.recv(1024)
        conn.close()

    threading.Thread(target=slam, daemon=True).start()
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={path}")
    with pytest.raises(Refused, match=r"^the system bus closed pingd's connection \("):
        SystemBus.open()
    server.close()


def test_opening_and_closing_leaks_no_descriptor(bus_address):
    def open_files() -> int:
        return len(os.listdir("/proc/self/fd"))

    SystemBus.open().close()
    before = open_files()
    for _ in range(20):
        SystemBus.open().close()
    assert open_files() == before


def test_the_announcer_says_a_refusal_as_it_is(tmp_path, monkeypatch):
    from pingd.announce import avahi

    path = tmp_path / "rude"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen()
    threading.Thread(target=lambda: server.accept()[0].close(), daemon=True).start()
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={path}")
    assert avahi.avahi_running().startswith("the system bus closed pingd's connection")
    server.close()
