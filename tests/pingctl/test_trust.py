"""Trust on first use, keyed on the daemon's name (and its node id), as ssh's known_hosts."""

from __future__ import annotations

import pytest

from pingctl import trust
from pingctl.errors import PingctlError

KEY_A, KEY_B = "A" * 40, "B" * 40


def test_first_use_records_then_the_same_key_is_quietly_trusted(tmp_path):
    path = tmp_path / "known_hosts"
    note = trust.check_server_key("box", "n1", KEY_A, path)
    assert "on first use" in note and path.read_text() == f"n1 {KEY_A} box\n"
    assert trust.check_server_key("box", "n1", KEY_A, path) is None
    assert trust.check_server_key("BOX", "n1", KEY_A, path) is None  # names are case-blind


def test_an_impostor_with_the_same_name_and_a_new_node_id_is_refused_loudly(tmp_path):
    path = tmp_path / "known_hosts"
    trust.check_server_key("box", "n1", KEY_A, path)
    with pytest.raises(PingctlError, match="THE KEY OF PINGD 'BOX' HAS CHANGED") as info:
        trust.check_server_key("box", "n-impostor", KEY_B, path)
    assert KEY_A in str(info.value) and KEY_B in str(info.value) and "line 1" in str(info.value)
    assert path.read_text() == f"n1 {KEY_A} box\n"  # nothing recorded for the impostor


def test_a_known_node_offering_another_key_under_a_new_name_is_refused(tmp_path):
    path = tmp_path / "known_hosts"
    trust.check_server_key("box", "n1", KEY_A, path)
    with pytest.raises(PingctlError, match="HAS CHANGED"):
        trust.check_server_key("other-name", "n1", KEY_B, path)


def test_names_with_spaces_and_control_characters_are_recorded_safely(tmp_path):
    path = tmp_path / "known_hosts"
    trust.check_server_key("living room\x1b[2J", "n1", KEY_A, path)
    assert path.read_text() == f"n1 {KEY_A} living room\\x1b[2J\n"
    assert trust.check_server_key("living room\x1b[2J", "n1", KEY_A, path) is None


def test_old_lines_and_junk_lines_are_tolerated(tmp_path):
    path = tmp_path / "known_hosts"
    path.write_text(f"\n# comment\nn0 {KEY_B} old-box\njunk\n")
    assert trust.check_server_key("box", "n1", KEY_A, path) is not None
    with pytest.raises(PingctlError):
        trust.check_server_key("old-box", "n9", KEY_A, path)
