"""The mDNS announcement's pure parts: TXT records, chosen addresses, and the library's log."""

from __future__ import annotations

import logging

import pytest

from pingd import announce, protocol


def test_txt_records_carry_the_protocol_and_the_key_only_when_encrypted():
    plain = announce.txt_records("abcd")
    assert plain == {"txtvers": "1", "pv": str(protocol.VERSION), "ver": plain["ver"], "id": "abcd"}
    assert announce.txt_records("abcd", "K" * 40)["ck"] == "K" * 40


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
