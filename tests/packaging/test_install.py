"""packaging/install refuses a prefix that is not pingd's own, before it touches anything."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

INSTALL = Path(__file__).resolve().parents[2] / "packaging" / "install"

pytestmark = pytest.mark.root


def _install(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(INSTALL), *args], capture_output=True, text=True, timeout=60, check=False)


def test_uninstall_refuses_a_prefix_it_did_not_install(tmp_path):
    """Holds off `--uninstall --prefix /usr`: the prefix was removed with rm -rf, unchecked."""
    prefix = tmp_path / "usr"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin" / "precious").write_text("keep me\n")
    run = _install("--uninstall", "--prefix", str(prefix))
    assert run.returncode == 2
    assert "holds no pingd install" in run.stderr and run.stderr.count("\n") == 1
    assert (prefix / "bin" / "precious").read_text() == "keep me\n"


@pytest.mark.parametrize("prefix", ["/", "//", "/usr/..", "relative/dir"])
def test_the_root_and_relative_prefixes_are_refused(prefix):
    run = _install("--uninstall", "--prefix", prefix)
    assert run.returncode == 2 and run.stderr.startswith("install: ")


def test_a_link_named_like_the_mark_does_not_make_a_prefix_pingds(tmp_path):
    prefix = tmp_path / "opt"
    prefix.mkdir()
    (prefix / "data").write_text("keep me\n")
    (prefix / ".pingd-install").symlink_to(tmp_path / "elsewhere")
    run = _install("--uninstall", "--prefix", str(prefix))
    assert run.returncode == 2 and (prefix / "data").exists()


def test_install_refuses_a_non_empty_folder_without_the_mark(tmp_path):
    prefix = tmp_path / "busy"
    prefix.mkdir()
    (prefix / "data").write_text("keep me\n")
    run = _install("--prefix", str(prefix), "--python", "/usr/bin/python3")
    assert run.returncode == 2 and "not empty and holds no pingd install" in run.stderr
    assert sorted(p.name for p in prefix.iterdir()) == ["data"]


def test_uninstall_of_a_prefix_that_does_not_exist_removes_nothing(tmp_path):
    """Holds off an uninstall of a missing prefix going on to remove the units of another
    install (it printed "pingd removed" and deleted /etc/systemd/system/pingd.service)."""
    run = _install("--uninstall", "--prefix", str(tmp_path / "never-installed"))
    assert run.returncode == 2 and "nothing is installed at" in run.stderr


def test_an_empty_hand_made_mark_does_not_make_a_prefix_pingds(tmp_path):
    prefix = tmp_path / "opt"
    prefix.mkdir()
    (prefix / "data").write_text("keep me\n")
    (prefix / ".pingd-install").write_text("")
    run = _install("--uninstall", "--prefix", str(prefix))
    assert run.returncode == 2 and (prefix / "data").exists()
