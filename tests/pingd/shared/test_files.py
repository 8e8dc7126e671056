"""Replacing files safely: random temporary names, never through a planted link, nothing
left behind on failure, and exclusive creation that one of two racers wins."""

from __future__ import annotations

import errno
import os

import pytest

from pingd.shared import files


def test_write_atomically_replaces_the_file_and_leaves_nothing_else(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"old")
    files.write_atomically(path, b"new")
    assert path.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["f"]


def test_a_planted_link_at_the_temporary_name_is_never_followed(tmp_path, monkeypatch):
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    names = iter(["planted", "fresh"])
    monkeypatch.setattr(files.secrets, "token_hex", lambda n: next(names))
    (tmp_path / ".f.planted.tmp").symlink_to(victim)
    files.write_atomically(tmp_path / "f", b"data")
    assert victim.read_bytes() == b"precious"
    assert (tmp_path / "f").read_bytes() == b"data"


def test_a_failed_write_removes_its_temporary_file(tmp_path, monkeypatch):
    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "write", full)
    with pytest.raises(OSError, match="No space"):
        files.write_atomically(tmp_path / "f", b"data")
    assert os.listdir(tmp_path) == []


def test_publish_exclusive_never_replaces_an_existing_file(tmp_path):
    path = tmp_path / "secret"
    files.publish_exclusive(path, b"first", 0o600)
    with pytest.raises(FileExistsError):
        files.publish_exclusive(path, b"second", 0o600)
    assert path.read_bytes() == b"first"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert os.listdir(tmp_path) == ["secret"]


def _fifo(tmp_path):
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (_fifo, "is a FIFO, not a regular file"),
        (lambda tmp_path: "/dev/zero", "is a character device, not a regular file"),
        (lambda tmp_path: tmp_path, "is a directory, not a regular file"),
    ],
)
def test_read_regular_refuses_what_is_not_a_regular_file_at_once(tmp_path, make, words):
    """Holds off input files that hang (a FIFO with no writer) or never end (/dev/zero)."""
    with pytest.raises(files.UnusableFile) as info:
        files.read_regular(make(tmp_path), 4096)
    assert info.value.strerror == words


def test_read_regular_is_bounded_and_may_refuse_links(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)
    assert files.read_regular(path, 100) == b"x" * 100
    with pytest.raises(files.UnusableFile, match="larger than 99 bytes"):
        files.read_regular(path, 99)
    link = tmp_path / "link"
    link.symlink_to(path)
    assert files.read_regular(link, 100) == b"x" * 100
    with pytest.raises(files.UnusableFile, match="symbolic link"):
        files.read_regular(link, 100, follow=False)
    with pytest.raises(FileNotFoundError):
        files.read_regular(tmp_path / "missing", 100)
