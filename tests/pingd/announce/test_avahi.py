"""The Avahi announcer against a scripted avahi-daemon on a fake system bus: what it publishes,
how it renames, how it follows Avahi leaving and coming back, what it believes, and how it
stops. (tests/integration/test_avahi.py runs it against Debian's avahi-daemon.)"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

import pytest
from jeepney import DBusAddress, HeaderFields, new_signal

from pingd.announce import avahi
from pingd.announce.announcement import Announcement
from pingd.announce.sysbus import BusError, Interrupted
from tests.support.processes import wait_for

OWNER = ":1.7"
NODE = "0123456789abcdef"
ANNOUNCEMENT = Announcement("box", 7464, ("10.0.0.5", "fd00::5", "127.0.0.1"), NODE)
#: The host's addresses and their interfaces' indexes, as the announcer sees them.
HOST = {"10.0.0.5": 2, "fd00::5": 2, "127.0.0.1": 1}


class FakeAvahiBus:
    """The system bus with an avahi-daemon behind it that does what ``on_commit`` says
    (the group's next state: established, collision, failure, or nothing)."""

    def __init__(self, owner: str | None = OWNER, on_commit: Callable[[str], int | None] | None = None) -> None:
        self.owner = owner
        self.on_commit = on_commit or (lambda name: avahi.GROUP_ESTABLISHED)
        self.calls: list[tuple[str, str, tuple]] = []
        self.timeouts: list[float] = []
        self.signals: queue.Queue[Any] = queue.Queue()
        self.unique_name = ":1.50"
        self.groups = 0
        self.taken_locally: set[str] = set()
        self.server_state = avahi.SERVER_RUNNING
        self.closed = threading.Event()
        self._names: dict[str, str] = {}

    # -- what the announcer calls ---------------------------------------------------------------

    def subscribe(self, rule: Any) -> None:
        self.calls.append(("bus", "AddMatch", ()))

    def owner_of(self, name: str) -> str | None:
        return self.owner

    def call(
        self, address: DBusAddress, method: str, signature: str | None = None, body: tuple = (), timeout: float = 2.0
    ) -> tuple:
        self.calls.append((address.object_path, method, body))
        self.timeouts.append(timeout)
        if method == "GetState":
            return (self.server_state,)
        if method == "EntryGroupNew":
            self.groups += 1
            return (f"/Client1/EntryGroup{self.groups}",)
        if method == "AddService":
            name = body[3]
            if name in self.taken_locally:
                raise BusError(avahi.LOCAL_COLLISION, "Local name collision")
            self._names[address.object_path] = name
        if method == "Commit":
            state = self.on_commit(self._names.get(address.object_path, ""))
            if state is not None:
                self.group_signal(address.object_path, state)
        return ()

    def next_signal(self, timeout: float | None) -> Any:
        try:
            item = self.signals.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is Interrupted:
            raise Interrupted
        return item

    def interrupt(self) -> None:
        self.signals.put(Interrupted)

    def resume(self) -> None:
        pass

    def close(self) -> None:
        self.closed.set()

    # -- what the test makes Avahi or the bus say ------------------------------------------------

    def group_signal(self, path: str, state: int, sender: str | None = "avahi") -> None:
        """A group's new state, from Avahi (its owner now) unless ``sender`` says otherwise."""
        sender = self.owner if sender == "avahi" else sender
        self._signal(DBusAddress(path, interface=avahi.GROUP_INTERFACE), "is", (state, ""), sender)

    def server_signal(self, state: int, sender: str | None = "avahi") -> None:
        sender = self.owner if sender == "avahi" else sender
        self._signal(DBusAddress("/", interface=avahi.SERVER_INTERFACE), "is", (state, ""), sender)

    def owner_changed(self, new: str, sender: str = avahi.BUS_NAME) -> None:
        address = DBusAddress("/org/freedesktop/DBus", interface=avahi.BUS_NAME)
        self._signal(address, "sss", (avahi.AVAHI, self.owner or "", new), sender)
        self.owner = new or None

    def _signal(self, address: DBusAddress, signature: str, body: tuple, sender: str | None) -> None:
        member = "NameOwnerChanged" if address.interface == avahi.BUS_NAME else "StateChanged"
        message = new_signal(address, member, signature, body)
        if sender is not None:
            message.header.fields[HeaderFields.sender] = sender
        self.signals.put(message)

    def methods(self, name: str) -> list[tuple]:
        return [body for _, method, body in self.calls if method == name]


@pytest.fixture
def announcer_with():
    made: list[avahi.AvahiAnnouncer] = []

    def make(bus: Any, interfaces: tuple[str, ...] = (), **kwargs: Any) -> avahi.AvahiAnnouncer:
        buses = bus if isinstance(bus, list) else [bus]
        a = avahi.AvahiAnnouncer(ANNOUNCEMENT, interfaces, connect=lambda: _next(buses), indexes=lambda: HOST, **kwargs)
        made.append(a)
        a.start()
        return a

    yield make
    for a in made:
        a.close()


def _next(buses: list[Any]) -> Any:
    bus = buses.pop(0) if len(buses) > 1 else buses[0]
    if isinstance(bus, Exception):
        raise bus
    return bus


def _says(a: avahi.AvahiAnnouncer, text: str) -> Callable[[], bool]:
    return lambda: text in a.describe()


def test_it_publishes_the_records_pingd_publishes_and_says_so_once(announcer_with, caplog):
    caplog.set_level(logging.INFO, "pingd")
    bus = FakeAvahiBus()
    a = announcer_with(bus)
    wait_for(_says(a, "announced as 'box' through avahi-daemon"), 5, "the group to be established")
    [service] = bus.methods("AddService")
    interface, protocol, flags, name, kind, domain, host, port, txt = service
    assert (interface, protocol, flags, name, kind, domain) == (-1, -1, 0, "box", "_pingd._tcp", "")
    assert (host, port) == (f"pingd-{NODE}.local", 7464)
    assert txt[0] == b"txtvers=1" and f"id={NODE}".encode() in txt and b"pv=1" in txt
    # Every listening address but loopback, each on its own interface, no reverse PTR.
    assert bus.methods("AddAddress") == [
        (2, -1, avahi.PUBLISH_NO_REVERSE, f"pingd-{NODE}.local", "10.0.0.5"),
        (2, -1, avahi.PUBLISH_NO_REVERSE, f"pingd-{NODE}.local", "fd00::5"),
    ]
    assert len(bus.methods("Commit")) == 1
    assert [r.getMessage() for r in caplog.records] == ["announced as 'box' through avahi-daemon"]


def test_the_curve_key_is_in_the_txt_record(announcer_with):
    bus = FakeAvahiBus()
    key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
    a = avahi.AvahiAnnouncer(
        Announcement("box", 1, ("10.0.0.5",), NODE, key), connect=lambda: bus, indexes=lambda: HOST
    )
    a.start()
    try:
        wait_for(_says(a, "announced as"), 5, "the group to be established")
        assert f"ck={key}".encode() in bus.methods("AddService")[0][8]
    finally:
        a.close()


def test_mdns_interface_limits_the_service_to_those_interfaces_and_families(announcer_with):
    bus = FakeAvahiBus()
    a = announcer_with(bus, interfaces=("10.0.0.5",))
    wait_for(_says(a, "announced as"), 5, "the group to be established")
    assert [s[:2] for s in bus.methods("AddService")] == [(2, avahi.PROTO_INET)]
    assert [s[4] for s in bus.methods("AddAddress")] == ["10.0.0.5"]


def test_a_name_another_client_of_avahi_holds_is_renamed_at_once(announcer_with, caplog):
    bus = FakeAvahiBus()
    bus.taken_locally = {"box", "box-2"}
    renamed: list[str] = []
    a = announcer_with(bus, on_renamed=renamed.append)
    wait_for(_says(a, "announced as 'box-3' through avahi-daemon"), 5, "the renamed group")
    assert [s[3] for s in bus.methods("AddService")] == ["box", "box-2", "box-3"]
    assert renamed == ["box-3"]
    # Each group that failed was freed, not left behind in Avahi.
    assert len(bus.methods("Free")) == 2
    assert sum("is taken on this network" in r.getMessage() for r in caplog.records) == 1


def test_every_name_held_by_other_clients_of_avahi_is_retried_from_the_first_and_taken_once_free(
    announcer_with, monkeypatch, caplog
):
    monkeypatch.setattr(avahi, "FIRST_RETRY", 0.05)
    bus = FakeAvahiBus()
    bus.taken_locally = {"box", *(f"box-{n}" for n in range(2, avahi.MAX_RENAMES + 2))}
    a = announcer_with(bus)
    wait_for(_says(a, "every name from 'box' to 'box-20' is taken"), 5, "the failure")
    bus.taken_locally.discard("box-7")  # that daemon stopped
    wait_for(_says(a, "announced as 'box-7' through avahi-daemon"), 5, "the freed name")
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert sum("every name from 'box' to 'box-20' is taken" in m for m in said) == 1, said


def test_an_address_this_host_does_not_have_is_not_published():
    bus = FakeAvahiBus()
    a = avahi.AvahiAnnouncer(
        Announcement("box", 1, ("10.0.0.5",), NODE), ("192.0.2.99",), connect=lambda: bus, indexes=lambda: HOST
    )
    a.start()
    try:
        wait_for(_says(a, "not announced (no address to announce is on this host (192.0.2.99)"), 5, "the refusal")
        assert bus.methods("AddService") == [] and bus.methods("AddAddress") == []
    finally:
        a.close()


def test_loopback_only_is_not_announced_and_says_what_to_do():
    bus = FakeAvahiBus()
    a = avahi.AvahiAnnouncer(Announcement("box", 1, ("127.0.0.1",), NODE), connect=lambda: bus, indexes=lambda: HOST)
    a.start()
    try:
        wait_for(_says(a, "pingd listens on loopback only, which avahi-daemon never announces"), 5, "the refusal")
        assert "(use --mdns-backend zeroconf)" in a.describe() and bus.methods("AddAddress") == []
    finally:
        a.close()


def test_one_episode_of_trouble_is_one_warning(announcer_with, monkeypatch, caplog):
    """A bus lost, then refused, then Avahi absent: one warning until pingd is announced again."""
    monkeypatch.setattr(avahi, "BUS_RETRY", 0.01)
    bus = FakeAvahiBus(owner=None)
    a = announcer_with([ConnectionResetError(104, "Connection reset by peer"), OSError(111, "Connection refused"), bus])
    wait_for(_says(a, "avahi-daemon is not running"), 5, "the third reason")
    bus.owner_changed(OWNER)
    wait_for(_says(a, "announced as 'box'"), 5, "published")
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "connection reset by peer" in warnings[0], warnings


def test_a_collision_on_the_network_renames_as_pingds_own_responder_does(announcer_with):
    seen: list[str] = []

    def commit(name: str) -> int:
        seen.append(name)
        return avahi.GROUP_COLLISION if name == "box" else avahi.GROUP_ESTABLISHED

    renamed: list[str] = []
    a = announcer_with(FakeAvahiBus(on_commit=commit), on_renamed=renamed.append)
    wait_for(_says(a, "announced as 'box-2'"), 5, "the renamed group")
    assert seen == ["box", "box-2"] and renamed == ["box-2"]


def test_every_name_taken_is_a_failure_retried_later_from_the_name_asked_for(announcer_with, monkeypatch):
    monkeypatch.setattr(avahi, "FIRST_RETRY", 0.05)
    seen: list[str] = []

    def commit(name: str) -> int:
        seen.append(name)
        return avahi.GROUP_COLLISION if len(seen) <= avahi.MAX_RENAMES + 1 else avahi.GROUP_ESTABLISHED

    a = avahi.AvahiAnnouncer(ANNOUNCEMENT, connect=lambda: bus, indexes=lambda: HOST)
    bus = FakeAvahiBus(on_commit=commit)
    a.start()
    try:
        wait_for(lambda: "announced as 'box'" in a.describe(), 10, "the retry from the first name")
        assert seen[: avahi.MAX_RENAMES + 1] == ["box", *(f"box-{n}" for n in range(2, avahi.MAX_RENAMES + 2))]
        assert seen[-1] == "box"
    finally:
        a.close()


def test_avahi_leaving_is_said_once_and_its_return_publishes_again(announcer_with, caplog):
    caplog.set_level(logging.INFO, "pingd")
    bus = FakeAvahiBus()
    a = announcer_with(bus)
    wait_for(_says(a, "announced as 'box'"), 5, "the group to be established")
    bus.owner_changed("")
    wait_for(_says(a, "not announced (avahi-daemon is not running; serving by address)"), 5, "Avahi gone")
    bus.owner_changed(":1.9")
    wait_for(lambda: bus.groups == 2, 5, "a new group")
    wait_for(_says(a, "announced as 'box'"), 5, "published again")
    gone = [r for r in caplog.records if "avahi-daemon is not running" in r.getMessage()]
    assert len(gone) == 1 and gone[0].levelno == logging.WARNING


def test_avahi_absent_at_start_is_waited_for(announcer_with):
    bus = FakeAvahiBus(owner=None)
    a = announcer_with(bus)
    wait_for(_says(a, "avahi-daemon is not running"), 5, "the state to say so")
    assert bus.methods("EntryGroupNew") == []
    bus.owner_changed(OWNER)
    wait_for(_says(a, "announced as 'box'"), 5, "published once Avahi came")


def test_signals_from_anyone_but_avahi_and_the_bus_are_ignored(announcer_with):
    bus = FakeAvahiBus()
    renamed: list[str] = []
    a = announcer_with(bus, on_renamed=renamed.append)
    wait_for(_says(a, "announced as 'box'"), 5, "the group to be established")
    bus.group_signal("/Client1/EntryGroup1", avahi.GROUP_COLLISION, sender=":1.66")  # forged
    bus.server_signal(avahi.SERVER_FAILURE, sender=":1.66")
    bus.owner_changed("", sender=":1.66")  # NameOwnerChanged not from the bus itself
    bus.group_signal("/Client1/EntryGroup1", avahi.GROUP_COLLISION, sender=None)
    bus.group_signal("/Client9/EntryGroup1", avahi.GROUP_COLLISION)  # another client's group
    bus.server_signal(avahi.SERVER_RUNNING)  # then something real, to know the rest was read
    wait_for(lambda: bus.signals.empty(), 5, "every signal to be read")
    assert a.describe() == "mDNS: announced as 'box' through avahi-daemon"
    assert renamed == [] and bus.groups == 1


def test_avahi_failing_then_running_again_publishes_anew(announcer_with):
    bus = FakeAvahiBus()
    a = announcer_with(bus)
    wait_for(_says(a, "announced as 'box'"), 5, "the group to be established")
    bus.server_signal(avahi.SERVER_FAILURE)
    wait_for(_says(a, "not announced (avahi-daemon failed"), 5, "the failure")
    assert bus.methods("Free") == [()]
    bus.server_signal(avahi.SERVER_RUNNING)
    wait_for(lambda: bus.groups == 2 and "announced as" in a.describe(), 5, "published again")


def test_a_failed_group_is_retried_after_a_pause(announcer_with, monkeypatch):
    monkeypatch.setattr(avahi, "FIRST_RETRY", 0.05)
    states = iter([avahi.GROUP_FAILURE, avahi.GROUP_ESTABLISHED])
    bus = FakeAvahiBus(on_commit=lambda name: next(states))
    a = announcer_with(bus)
    wait_for(_says(a, "announced as 'box'"), 5, "the retry")
    assert bus.groups == 2


def test_no_system_bus_is_said_and_tried_again(announcer_with, monkeypatch):
    monkeypatch.setattr(avahi, "FIRST_RETRY", 0.05)
    bus = FakeAvahiBus()
    a = announcer_with([FileNotFoundError(2, "No such file or directory"), bus])
    wait_for(_says(a, "announced as 'box'"), 5, "the second connection")


def test_a_lost_bus_is_closed_and_connected_again(announcer_with, monkeypatch):
    monkeypatch.setattr(avahi, "FIRST_RETRY", 0.05)
    first, second = FakeAvahiBus(), FakeAvahiBus()
    a = announcer_with([first, second])
    wait_for(_says(a, "announced as 'box'"), 5, "the group to be established")

    def reset(timeout: float | None) -> Any:
        raise ConnectionResetError(104, "Connection reset by peer")

    first.next_signal = reset  # type: ignore[method-assign]
    first.server_signal(avahi.SERVER_RUNNING)  # wakes the wait in progress, which then reads a reset
    wait_for(first.closed.is_set, 5, "the lost connection to be closed")
    wait_for(lambda: second.groups == 1 and "announced as" in a.describe(), 5, "published on the new one")


def test_close_frees_the_group_and_ends_the_thread(announcer_with):
    bus = FakeAvahiBus()
    a = announcer_with(bus)
    wait_for(_says(a, "announced as"), 5, "the group to be established")
    a.close()
    assert bus.methods("Free") == [()] and bus.closed.is_set()
    assert bus.timeouts[-1] == avahi.LAST_CALL  # a hung Avahi holds up a stop half a second at most
    assert a._thread is not None and not a._thread.is_alive()


def test_close_before_start_and_twice_is_harmless():
    a = avahi.AvahiAnnouncer(ANNOUNCEMENT, connect=FakeAvahiBus)
    a.close()
    a.close()
    assert "starting" in a.describe()
