"""The man pages are made from the commands themselves: every option --help shows is on the
page, with its help text, every pingd setting with its variable and file key, and the roff is
clean (groff finds nothing to warn about)."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pingd.settings import SETTINGS
from tests.conftest import require
from tests.support.processes import base_env

ROOT = Path(__file__).resolve().parents[2]


def _load_manpages():
    """packaging/manpages.py, by path: `packaging` is also the name of a PyPI library."""
    spec = importlib.util.spec_from_file_location("pingd_manpages", ROOT / "packaging" / "manpages.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


manpages = _load_manpages()


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    directory = tmp_path_factory.mktemp("man")
    return {path.name: path.read_text() for path in manpages.write(directory)}


def _help_options(*command: str) -> list[str]:
    out = subprocess.run([sys.executable, "-m", *command, "--help"], capture_output=True, text=True,
                         env=base_env(COLUMNS="200"), check=True).stdout  # fmt: skip
    return re.findall(r"^\s+((?:-\w, )?--[\w-]+(?:/--[\w-]+)?)", out, re.M)


def _plain(page: str) -> str:
    return page.replace("\\-", "-").replace("\\e", "\\").replace("\\&", "")


@pytest.mark.parametrize(
    ("page", "command"),
    [
        ("pingd.8", ("pingd",)),
        ("pingctl.1", ("pingctl", "ping")),
        ("pingctl.1", ("pingctl", "status")),
        ("pingctl.1", ("pingctl", "discover")),
        ("pingctl.1", ("pingctl", "keys", "show")),
    ],
)
def test_every_option_of_help_is_on_the_page(pages, page, command):
    options = _help_options(*command)
    assert len(options) >= 2, options
    text = _plain(pages[page])
    for option in options:
        assert f"\\fB{option}" in text, f"{option} of {' '.join(command)} is missing from {page}"


def test_help_text_and_defaults_come_through(pages):
    text = _plain(pages["pingctl.1"])
    assert "Pings to send; 0 sends until interrupted. [default: 100]" in text
    assert ".SS pingctl keys show" in text and ".SH EXIT STATUS" in text
    assert _plain(pages["pingd.8"]).startswith(".TH PINGD 8 ")


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.key)
def test_every_setting_is_on_the_page_with_its_default_variable_and_file_key(pages, setting):
    text = _plain(pages["pingd.8"])
    options, rest = text.split(".SH SETTINGS\n")
    section = rest.split("\n.SH ")[0]
    assert f"\\fB{setting.flag}" in options, f"{setting.flag} is not among the options"
    if setting.help_default is not None:
        assert f"[default: {setting.help_default}]" in options
    assert f"\\fB{setting.key}, {setting.env}\\fR\nAs {setting.flag};" in section


def test_the_pages_name_the_service_files_and_the_operators_document_the_package_ships(pages):
    pingd_page, pingctl_page = _plain(pages["pingd.8"]), _plain(pages["pingctl.1"])
    settings = pingd_page.split(".SH SETTINGS\n")[1].split("\n.SH ")[0]
    assert "--check-config and --print-dns-records read the service's files" in " ".join(settings.split())
    assert "/etc/pingd/pingd.toml and /var/lib/pingd/state.json" in settings
    assert "/usr/share/doc/pingd/operating.md.gz" in pingd_page.split(".SH SEE ALSO\n")[1]
    assert "docs/operating.md" in (ROOT / "packaging" / "debian" / "pingd.docs").read_text().split()
    assert "never answers included" in pingctl_page.split(".SH EXIT STATUS\n")[1]


def test_roff_escapes_what_would_be_read_as_requests():
    assert manpages.roff(".hidden\n'quoted\nback\\slash - dash") == "\\&.hidden\n\\&'quoted\nback\\eslash \\- dash"


def test_groff_renders_both_pages_without_a_warning(pages, tmp_path):
    require(None if shutil.which("groff") else "needs groff (groff-base)")
    for name, text in pages.items():
        path = tmp_path / name
        path.write_text(text)
        run = subprocess.run(["groff", "-man", "-ww", "-z", str(path)], capture_output=True, text=True)
        assert run.returncode == 0 and run.stderr == "", f"{name}: {run.stderr}"


# --- the option tables of the documents ----------------------------------------------------------


def _documents() -> list[Path]:
    from tests.test_docs import DOCUMENTS

    return DOCUMENTS


def test_every_generated_option_table_is_the_commands_own():
    known = manpages.commands()
    tables = 0
    for document in _documents():
        text = document.read_text(encoding="utf-8")
        tables += len(manpages.TABLE.findall(text))
        assert manpages.refresh(text, known) == text, f"{document.name}: run make docs"
    assert tables >= 5


def test_a_stale_or_unknown_table_is_caught():
    known = manpages.commands()
    fresh = manpages.refresh("<!-- options:begin pingctl keys show -->\n<!-- options:end -->\n", known)
    assert "| `--cert` | Print a certificate file" in fresh and manpages.refresh(fresh, known) == fresh
    stale = fresh.replace("--cert", "--certificate")
    assert manpages.refresh(stale, known) == fresh != stale
    with pytest.raises(KeyError):
        manpages.refresh("<!-- options:begin pingctl launch -->\n<!-- options:end -->\n", known)


def test_a_cell_cannot_break_its_table():
    assert manpages._cell("periodic | always, * is\n   every") == "periodic \\| always, \\* is every"


OPTION = re.compile(r"(?<![\w-])(--[a-z][\w-]*)")


def hand_written_options(text: str) -> list[str]:
    """The options named in the first column of each hand-written option table (header
    ``| option |``) of ``text``; generated tables are checked whole by the test above."""
    text = manpages.TABLE.sub("", text)
    found: list[str] = []
    for table in re.findall(r"(?m)^\| option \|.*\n(?:^\|.*\n?)+", text):
        for row in table.splitlines()[2:]:
            found += OPTION.findall(row.split("|")[1])
    return found


def _all_options() -> set[str]:
    return {
        opt
        for command, ctx in manpages.commands().values()
        for param in command.get_params(ctx)
        for opt in [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]
    }


def test_every_option_a_hand_written_table_names_exists():
    options = _all_options()
    assert {"--bind", "--no-mdns", "--server-key", "--cert", "--install-completion"} <= options
    for document in _documents():
        named = hand_written_options(document.read_text(encoding="utf-8"))
        assert set(named) - options == set(), document.name


def test_the_hand_written_check_reads_the_first_column_only():
    text = "| option | meaning |\n| --- | --- |\n| `--port N`, `-p` | see --bind |\n| `--gone` | x |\n\nafter\n"
    assert hand_written_options(text) == ["--port", "--gone"]
    assert "--gone" not in _all_options()
