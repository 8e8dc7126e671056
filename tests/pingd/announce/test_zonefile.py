"""`pingd --print-dns-records`: the records from the daemon's own facts, and clear refusals."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest

from pingd.announce import zonefile
from pingd.config import Config
from pingd.errors import EXIT_SETTINGS, EXIT_STATE
from pingd.serve.statefile import render


def _config(**changes) -> Config:
    settings = {"bind": "127.0.0.1", "port": 7469, "name": "printed", "dns_domain": "example.org", **changes}
    return replace(Config(), **settings)


def test_records_carry_the_state_files_node_id_port_and_name(tmp_path):
    state = tmp_path / "state.json"
    state.write_bytes(render("abcdef0123456789", 5))
    text = "\n".join(zonefile.lines_for(_config(), state))
    assert "printed._pingd._tcp.example.org." in text
    assert "7469" in text and "id=abcdef0123456789" in text
    assert "pingd-abcdef0123456789" in text


def test_a_missing_domain_or_port_is_a_settings_error(tmp_path):
    with pytest.raises(zonefile.CannotPrint) as info:
        zonefile.lines_for(_config(dns_domain=None), tmp_path / "s.json")
    assert info.value.exit_code == EXIT_SETTINGS
    with pytest.raises(zonefile.CannotPrint, match="fixed port"):
        zonefile.lines_for(_config(port=0), tmp_path / "s.json")


def test_a_state_file_that_is_a_fifo_is_refused_at_once(tmp_path):
    """Holds off a FIFO at the state path: reading it blocked until a writer came."""
    state = tmp_path / "state.json"
    os.mkfifo(state)
    with pytest.raises(zonefile.CannotPrint, match="is a FIFO, not a regular file") as info:
        zonefile.lines_for(_config(), state)
    assert info.value.exit_code == EXIT_STATE


def test_a_state_file_that_is_a_loop_of_links_is_refused_and_kept(tmp_path):
    """The user's own files: the state file would be made if missing, but a loop is no file."""
    state = tmp_path / "state.json"
    state.symlink_to("state.json")
    with pytest.raises(zonefile.CannotPrint, match="loop of symbolic links") as info:
        zonefile.lines_for(_config(), state)
    assert info.value.exit_code == EXIT_STATE
    assert os.readlink(state) == "state.json" and os.listdir(tmp_path) == ["state.json"]


def test_a_state_file_that_must_not_be_made_is_not(tmp_path):
    """The service's files: the node id is the service's to make, at its first start."""
    state = tmp_path / "pingd" / "state.json"
    with pytest.raises(zonefile.CannotPrint, match="does not exist") as info:
        zonefile.lines_for(_config(), state, create=False)
    assert info.value.exit_code == EXIT_STATE
    assert os.listdir(tmp_path) == []
    state.parent.mkdir()
    state.write_bytes(render("abcdef0123456789", 5))
    assert "id=abcdef0123456789" in "\n".join(zonefile.lines_for(_config(), state, create=False))


def test_a_key_pair_that_must_not_be_made_is_not(tmp_path):
    """Serving encrypted, the records carry the service's key: never one made now, which no
    daemon would serve with; the user's own files get theirs made, as the first start would."""
    state = tmp_path / "state.json"
    state.write_bytes(render("abcdef0123456789", 5))
    with pytest.raises(zonefile.CannotPrint, match="pingd-curve.key_secret does not exist") as info:
        zonefile.lines_for(_config(curve=True), state, create=False)
    assert info.value.exit_code == EXIT_STATE and "\n" not in str(info.value)
    assert os.listdir(tmp_path) == ["state.json"]
    made = "\n".join(zonefile.lines_for(_config(curve=True), state))
    assert sorted(os.listdir(tmp_path)) == ["pingd-curve.key", "pingd-curve.key_secret", "state.json"]
    assert made.splitlines() == zonefile.lines_for(_config(curve=True), state, create=False)
