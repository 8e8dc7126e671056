"""Trust on first use, keyed on the daemon's name (and its node id), as ssh's known_hosts:
checked before connecting, recorded only after the daemon answered through the key."""

from __future__ import annotations

import os
import threading

import pytest

from pingctl import trust
from pingctl.errors import PingctlError

KEY_A, KEY_B, KEY_C = "A" * 40, "B" * 40, "C" * 40


def test_a_new_name_is_recorded_then_quietly_trusted(tmp_path):
    path = tmp_path / "known_hosts"
    assert trust.check("box", "n1", KEY_A, path) is False  # new: nothing written yet
    assert not path.exists()
    note = trust.record("box", "n1", KEY_A, path)
    assert note is not None and "on first use" in note and path.read_text() == f"n1 {KEY_A} box\n"
    assert trust.check("box", "n1", KEY_A, path) is True
    assert trust.check("BOX", "n1", KEY_A, path) is True  # names are case-blind
    assert trust.record("box", "n1", KEY_A, path) is None  # already pinned: nothing to say


def test_an_impostor_with_the_same_name_and_a_new_node_id_is_refused_loudly(tmp_path):
    path = tmp_path / "known_hosts"
    trust.record("box", "n1", KEY_A, path)
    with pytest.raises(trust.KeyChanged, match="THE KEY OF PINGD 'BOX' HAS CHANGED") as info:
        trust.check("box", "nimpostor", KEY_B, path)
    assert KEY_A in str(info.value) and KEY_B in str(info.value) and "line 1" in str(info.value)
    with pytest.raises(trust.KeyChanged):
        trust.record("box", "nimpostor", KEY_B, path)
    assert path.read_text() == f"n1 {KEY_A} box\n"  # nothing recorded for the impostor


def test_a_known_node_offering_another_key_under_a_new_name_is_refused(tmp_path):
    path = tmp_path / "known_hosts"
    trust.record("box", "n1", KEY_A, path)
    with pytest.raises(PingctlError, match="HAS CHANGED"):
        trust.check("other-name", "n1", KEY_B, path)


def test_the_pin_injection_line_cannot_be_written(tmp_path):
    """Holds off pin injection: a node id carrying a key, a name and a line break used to be
    written into known_hosts as a line of its own. record() takes checked values only, and a
    name is written escaped, on one line."""
    path = tmp_path / "known_hosts"
    with pytest.raises(ValueError):
        trust.record("box", f"0000000000000000 {KEY_C} box\n1111111111111111", KEY_A, path)
    trust.record(f"box\n0000000000000000 {KEY_C} real", "n1", KEY_A, path)
    lines = path.read_text().splitlines()
    assert len(lines) == 1 and lines[0] == f"n1 {KEY_A} box\\x0a0000000000000000 {KEY_C} real"
    assert [p.name for p in trust.parse(path.read_text())] == [f"box\n0000000000000000 {KEY_C} real"]
    assert trust.check("real", None, KEY_B, path) is False  # no pin for "real" was planted


def test_names_with_spaces_and_unprintable_characters_round_trip(tmp_path):
    path = tmp_path / "known_hosts"
    for name in ("living room\x1b[2J", "box\u200b", "back\\slash", "x\\x41"):
        trust.record(name, None, KEY_A, path)
        assert trust.check(name, None, KEY_A, path) is True
    assert "living room\\x1b[2J" in path.read_text() and "box\\u200b" in path.read_text()
    assert trust.check("box", None, KEY_B, path) is False  # box\u200b is not box
    assert trust.check("xA", None, KEY_B, path) is False  # an escape in a name stays a name
    assert len(path.read_text().splitlines()) == 4


def test_old_lines_and_junk_lines_are_tolerated_and_kept(tmp_path):
    path = tmp_path / "known_hosts"
    path.write_text(f"\n# comment\nn0 {KEY_B} old-box\njunk\nbad-id! {KEY_A} x\nn2 short-key y")
    assert trust.check("box", "n1", KEY_A, path) is False
    with pytest.raises(PingctlError):
        trust.check("old-box", "n9", KEY_A, path)
    trust.record("box", "n1", KEY_A, path)
    assert (
        path.read_text()
        == f"\n# comment\nn0 {KEY_B} old-box\njunk\nbad-id! {KEY_A} x\nn2 short-key y\nn1 {KEY_A} box\n"
    )


def test_a_link_is_never_written_through(tmp_path):
    """Holds off known_hosts symlinked elsewhere: the pin used to be appended to the target."""
    target = tmp_path / "elsewhere"
    target.write_text("precious\n")
    path = tmp_path / "known_hosts"
    path.symlink_to(target)
    with pytest.raises(PingctlError, match="symbolic link"):
        trust.record("box", "n1", KEY_A, path)
    with pytest.raises(PingctlError, match="symbolic link"):
        trust.check("box", "n1", KEY_A, path)
    assert target.read_text() == "precious\n" and path.is_symlink()


def test_a_fifo_or_a_device_is_refused_at_once(tmp_path):
    """Holds off a known_hosts that is a FIFO (pingctl hung until killed) or a device."""
    fifo = tmp_path / "known_hosts"
    os.mkfifo(fifo)
    outcome: list[object] = []
    worker = threading.Thread(target=lambda: outcome.append(_error_of(lambda: trust.check("box", "n1", KEY_A, fifo))))
    worker.start()
    worker.join(5)
    assert not worker.is_alive(), "reading a FIFO must not block"
    assert "FIFO" in str(outcome[0])
    with pytest.raises(PingctlError, match="character device"):
        trust.check("box", "n1", KEY_A, __import__("pathlib").Path("/dev/zero"))


def test_an_oversized_known_hosts_is_refused(tmp_path):
    path = tmp_path / "known_hosts"
    path.write_bytes(b"#" * (trust.MAX_KNOWN_HOSTS + 1))
    with pytest.raises(PingctlError, match="larger than"):
        trust.check("box", "n1", KEY_A, path)


def test_two_recorders_at_once_keep_both_pins(tmp_path):
    path = tmp_path / "known_hosts"
    names = [f"box{i}" for i in range(20)]
    threads = [threading.Thread(target=trust.record, args=(n, None, KEY_A, path)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(p.name for p in trust.parse(path.read_text())) == sorted(names)


def _error_of(call) -> object:
    try:
        call()
    except Exception as exc:
        return exc
    return None


def test_a_pinned_daemon_announcing_no_key_is_refused_as_a_downgrade(tmp_path):
    """Holds off the plaintext downgrade: a pinned name announced with no key (pointing at a
    plain daemon) was connected to without a word."""
    path = tmp_path / "known_hosts"
    trust.check_plain("ghost", "n1", path)  # nothing pinned: plain is fine
    trust.record("ghost", "n1", KEY_A, path)
    with pytest.raises(trust.KeyDropped, match="NOW ANNOUNCES NO KEY.*line 1") as info:
        trust.check_plain("GHOST", "nother", path)
    assert info.value.short == "refused: it announces no key, but known_hosts line 1 pins one"
    with pytest.raises(trust.KeyDropped):
        trust.check_plain("new-name", "n1", path)  # the pinned node id under a new name
    trust.check_plain("other", "n2", path)


def test_lines_that_are_no_pins_are_kept_byte_for_byte(tmp_path):
    """Holds off the lossy rewrite: junk that was not UTF-8 came back as U+FFFD."""
    path = tmp_path / "known_hosts"
    junk = b"\xff\xfe junk\x00\n# comment\r\n" + f"n0 {KEY_B} old\u2028box\n".encode()
    path.write_bytes(junk)
    assert [(p.name, p.line) for p in trust.parse(path.read_bytes())] == [("old\u2028box", 3)]
    trust.record("box", "n1", KEY_A, path)
    assert path.read_bytes() == junk + f"n1 {KEY_A} box\n".encode()
    assert [p.line for p in trust.parse(path.read_bytes())] == [3, 4]


def test_a_pin_that_would_outgrow_the_file_is_not_written(tmp_path, monkeypatch):
    """Holds off the self-lockout: one pin past the size limit made the next run refuse the file."""
    path = tmp_path / "known_hosts"
    monkeypatch.setattr(trust, "MAX_KNOWN_HOSTS", 120)
    trust.record("box1", "n1", KEY_A, path)
    trust.record("box2", "n2", KEY_A, path)
    before = path.read_bytes()
    note = trust.record("box3", "n3", KEY_A, path)
    assert note is not None and "would grow past 120 bytes" in note
    assert path.read_bytes() == before and trust.check("box1", "n1", KEY_A, path) is True
