"""The mDNS announcement: TXT records, chosen addresses, the library's log, and the announcer
on a stand-in for zeroconf (its loop thread, scripted registrations, no socket)."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

import pytest

from pingd.announce import mdns as announce
from pingd.shared import service
from tests.support.processes import wait_for


def test_announced_addresses_leave_loopback_out_unless_it_is_all_there_is():
    assert announce.announced_addresses(("127.0.0.1", "10.0.0.5", "fd00::5"), ()) == ["10.0.0.5", "fd00::5"]
    assert announce.announced_addresses(("127.0.0.1",), ()) == ["127.0.0.1"]
    assert announce.announced_addresses(("127.0.0.1", "10.0.0.5"), ("127.0.0.1",)) == ["127.0.0.1"]


@pytest.fixture
def library_log(caplog):
    """zeroconf's logger with pingd's filter, captured at every level."""
    library = logging.getLogger("zeroconf")
    announce.quiet_library_logs()
    announce.quiet_library_logs()  # installed once, however often asked
    assert sum(isinstance(f, announce.QuietLibrary) for f in library.filters) == 1
    caplog.set_level(logging.DEBUG, logger="zeroconf")
    return library


def _fail() -> OSError:
    try:
        raise OSError(101, "Network is unreachable")
    except OSError as exc:
        return exc


def test_expected_socket_noise_is_dropped_below_debug(library_log, caplog):
    logging.getLogger("pingd").setLevel(logging.INFO)
    exc = _fail()
    library_log.warning("Error with socket %d (%s)): %s", 14, ("::1", 5353, 0, 0), exc, exc_info=exc)
    library_log.warning("Address not available when binding to %s, it is expected", ("fe80::1", 5353, 0, 2))
    assert caplog.records == []


def test_expected_noise_shows_at_debug_in_one_line(library_log, caplog):
    logging.getLogger("pingd").setLevel(logging.DEBUG)
    try:
        exc = _fail()
        library_log.warning("Error with socket %d: %s", 14, exc, exc_info=exc)
    finally:
        logging.getLogger("pingd").setLevel(logging.INFO)
    [record] = caplog.records
    assert record.levelno == logging.DEBUG and record.exc_info is None
    assert "Network is unreachable" in record.getMessage()


def test_anything_else_stays_a_warning_without_a_traceback(library_log, caplog):
    exc = _fail()
    library_log.warning("Something new went wrong", exc_info=exc)
    [record] = caplog.records
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert record.getMessage() == "Something new went wrong ([Errno 101] Network is unreachable)"


# -- the announcer on zeroconf's thread --------------------------------------------------------


class FakeZeroconf:
    """zeroconf's ``Zeroconf`` as the announcer uses it, without a socket: an asyncio loop in a
    thread of its own (zeroconf's thread), and registrations whose outcomes ``script`` gives
    in turn: an exception to raise, a name to rename the service to, or None (registered as
    asked; also once the script is spent)."""

    def __init__(self, script: list[BaseException | str | None], on_attempt: Callable[[], None]) -> None:
        self.script, self.on_attempt = script, on_attempt
        self.attempts = 0
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="fake-zeroconf", daemon=True)
        self._thread.start()

    async def async_register_service(self, info, allow_name_change: bool = False) -> None:
        self.attempts += 1
        self.on_attempt()
        outcome = self.script.pop(0) if self.script else None
        if isinstance(outcome, BaseException):
            raise outcome
        if outcome is not None:
            info.name = f"{outcome}.{service.SERVICE_TYPE}"

    def close(self) -> None:
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)
            self.loop.close()


@pytest.fixture
def mdns(monkeypatch, caplog):
    """Make an MdnsAnnouncer on a FakeZeroconf, started; retries after 10 ms. Each attempt
    records the status it begins in (``states``); zeroconf's thread logs nothing from
    concurrent.futures (a callback that raised would)."""
    import zeroconf

    monkeypatch.setattr(announce, "FIRST_RETRY", 0.01)
    caplog.set_level(logging.INFO)
    made: list[tuple[announce.MdnsAnnouncer, FakeZeroconf]] = []

    class Made:
        states: list[str] = []

        def __call__(self, script, on_renamed=lambda name: None):
            a = announce.MdnsAnnouncer(
                announce.Announcement("box", 7464, ("127.0.0.1",), "n1"), ("127.0.0.1",), on_renamed=on_renamed
            )
            fakes: list[FakeZeroconf] = []

            def fake(*args, **kwargs) -> FakeZeroconf:
                fakes.append(FakeZeroconf(script, lambda: self.states.append(a.describe())))
                return fakes[-1]

            monkeypatch.setattr(zeroconf, "Zeroconf", fake)
            a.start()
            made.append((a, fakes[0]))
            return a, fakes[0]

    yield Made()
    for a, fake in made:
        a.close()
        fake.close()
    assert [r for r in caplog.records if r.name == "concurrent.futures"] == []


def pingd_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "pingd" and r.levelno >= logging.WARNING]


def test_a_registration_that_raises_is_one_line_and_is_retried(mdns, caplog):
    """Holds off: an exception nothing foresaw from zeroconf's registration. It left "mDNS:
    off" with no retry; now it is one line, "not announced (why)", and the next attempt
    announces."""
    a, fake = mdns([RuntimeError("injected"), RuntimeError("injected")])
    wait_for(lambda: a.describe() == "mDNS: announced as 'box'", 10, "the announcement after two failures")
    assert fake.attempts == 3
    assert mdns.states == ["mDNS: registering 'box'", *["mDNS: not announced (RuntimeError: injected)"] * 2]
    assert pingd_lines(caplog) == ["mDNS registration failed: RuntimeError: injected; serving by address, and retrying"]


def test_a_rename_the_daemon_cannot_take_is_one_line_and_the_status_is_right(mdns, caplog):
    """Holds off: ``on_renamed`` (the daemon's hand-over, run on zeroconf's thread) raising.
    concurrent.futures logged it with a traceback, and the status stayed "registering" for
    ever; the service is announced all the same, and the status now says so."""

    def refuse(name: str) -> None:
        raise RuntimeError("injected")

    a, fake = mdns(["box-2"], on_renamed=refuse)
    wait_for(lambda: a.describe() != "mDNS: registering 'box'", 10, "the registration's outcome")
    assert a.describe() == "mDNS: announced as 'box-2'" and fake.attempts == 1
    assert pingd_lines(caplog) == [
        "mDNS name 'box' is taken on this network; announced as 'box-2'",
        "mDNS: announced as 'box-2', but pingd could not take the new name: RuntimeError: injected",
    ]


def test_an_exception_in_the_outcome_itself_is_one_line_not_a_stuck_status(mdns, caplog, monkeypatch):
    """Holds off: a bug in pingd's own handling of the outcome (here, its method raising
    once), on zeroconf's thread: one line, and a status that no longer says "registering"."""

    def broken(self, name: str) -> None:
        raise RuntimeError("injected")

    monkeypatch.setattr(announce.MdnsAnnouncer, "_announced", broken)
    a, fake = mdns([])
    wait_for(lambda: a.describe() != "mDNS: registering 'box'", 10, "the registration's outcome")
    assert a.describe() == "mDNS: not announced (RuntimeError: injected)"
    assert pingd_lines(caplog) == ["mDNS: unexpected failure while announcing: RuntimeError: injected"]


def test_closing_while_a_retry_is_due_retries_nothing(mdns, monkeypatch):
    """A retry scheduled on zeroconf's loop does nothing once pingd is stopping."""
    monkeypatch.setattr(announce, "FIRST_RETRY", 60.0)
    a, fake = mdns([RuntimeError("injected")])
    wait_for(lambda: a.describe().startswith("mDNS: not announced"), 10, "the failure")
    a.close()
    a._retry_now()  # as the loop would run it, had it not stopped
    assert fake.attempts == 1
