"""CURVE key files: made once, read back, and allow-lists of either format."""

from __future__ import annotations

import os
import threading

import pytest

from pingd.shared import keys


def test_a_pair_is_made_once_with_a_private_secret(tmp_path):
    pair = keys.load_or_create(tmp_path, "pingd-curve")
    assert keys.is_key(pair.public) and keys.is_key(pair.secret) and pair.public != pair.secret
    assert oct((tmp_path / "pingd-curve.key_secret").stat().st_mode & 0o777) == "0o600"
    assert keys.read_certificate(tmp_path / "pingd-curve.key") == (pair.public, None)
    assert keys.load_or_create(tmp_path, "pingd-curve") == pair
    assert pair.secret not in repr(pair)


def test_two_processes_making_the_pair_at_once_agree_on_one(tmp_path):
    pairs: list[keys.KeyPair] = []
    threads = [threading.Thread(target=lambda: pairs.append(keys.load_or_create(tmp_path, "c"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len({p.public for p in pairs}) == 1
    assert sorted(os.listdir(tmp_path)) == ["c.key", "c.key_secret"]


def test_a_damaged_secret_file_is_refused_not_replaced(tmp_path):
    (tmp_path / "c.key_secret").write_text("not a certificate")
    with pytest.raises(keys.KeyFileError, match="not a CURVE certificate"):
        keys.load_or_create(tmp_path, "c")
    assert (tmp_path / "c.key_secret").read_text() == "not a certificate"


def test_a_pair_loaded_without_creating_is_the_one_made_and_a_missing_one_is_never_made(tmp_path):
    with pytest.raises(keys.KeyFileError) as info:
        keys.load(tmp_path / "dir", "pingd-curve")
    assert str(info.value) == f"key file {tmp_path / 'dir' / 'pingd-curve.key_secret'} does not exist"
    assert os.listdir(tmp_path) == []
    pair = keys.load_or_create(tmp_path, "pingd-curve")
    assert keys.load(tmp_path, "pingd-curve") == pair and pair.secret
    (tmp_path / "pingd-curve.key_secret").write_text(keys.certificate(pair.public, None))  # no secret in it
    with pytest.raises(keys.KeyFileError, match="not a CURVE certificate with both keys"):
        keys.load(tmp_path, "pingd-curve")


def test_allow_lists_take_certificates_and_bare_keys_and_name_the_rest(tmp_path):
    a, b = "a" * 40, "b" * 40
    (tmp_path / "alice.key").write_text(keys.certificate(a, None))
    (tmp_path / "bob").write_text(b + "\n")
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / ".hidden").write_text("c" * 40)
    allowed, problems = keys.read_allowed(tmp_path)
    assert allowed == {a, b}
    assert problems == [f"{tmp_path / 'notes.txt'}: no CURVE public key in it"]
    with pytest.raises(keys.KeyFileError, match="allow-list"):
        keys.read_allowed(tmp_path / "missing")


def test_a_secret_file_that_is_a_fifo_or_oversized_is_refused_at_once(tmp_path):
    """Holds off a client.key_secret that is a FIFO: pingctl hung until killed."""
    os.mkfifo(tmp_path / "client.key_secret")
    with pytest.raises(keys.KeyFileError, match="is a FIFO, not a regular file"):
        keys.load_or_create(tmp_path, "client")
    (tmp_path / "big.key_secret").write_bytes(b"#" * (keys.MAX_KEY_FILE + 1))
    with pytest.raises(keys.KeyFileError, match="larger than"):
        keys.load_or_create(tmp_path, "big")
