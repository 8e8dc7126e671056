"""The pingd command's settings, run in-process through the real command line: each declared
setting has a flag, a PINGD_* variable and a TOML key, and all three set the same thing; the
example settings file shows every setting with a value pingd accepts."""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from pingd.cli import app
from pingd.settings import SETTINGS, Setting
from pingd.shared import usage

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "packaging" / "pingd.toml"
#: What a setting needs beside it to be accepted at all (resolve refuses it alone).
NEEDS: Mapping[str, Mapping[str, Any]] = {
    "allow_clients": {"curve": True},
    "dns_server": {"dns_domain": "example.org"},
    "dns_key": {"dns_domain": "example.org"},
}


def example_values() -> dict[str, Any]:
    """The ``key = value`` lines of the example settings file, commented out or not, read as TOML."""
    values: dict[str, Any] = {}
    for line in EXAMPLE.read_text().splitlines():
        assignment = re.fullmatch(r"#?\s*([a-z_]+\s*=.*)", line)
        if assignment:
            values.update(tomllib.loads(assignment[1]))
    return values


EXAMPLES = example_values()


def _flag_args(setting: Setting, value: Any) -> list[str]:
    if isinstance(value, bool):
        return [setting.flag if value else "--no-" + setting.flag[2:]]
    if isinstance(value, list):
        return [arg for item in value for arg in (setting.flag, str(item))]
    return [setting.flag, str(value)]


def _env_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return ",".join(value) if isinstance(value, list) else str(value)


def _toml(values: Mapping[str, Any]) -> str:
    """Strings, numbers, booleans and lists of strings: JSON spells them as TOML does."""
    return "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())


@pytest.fixture
def check_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[dict[str, Any], str]]:
    """`pingd --check-config` with only these flags, PINGD_* variables and settings file: the
    effective settings it prints, and the name of the file."""
    for name in list(os.environ):
        if name.startswith("PINGD_"):
            monkeypatch.delenv(name)
    path = tmp_path / "pingd.toml"

    def run(args: list[str], env: Mapping[str, str], file: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
        path.write_text(_toml(file))
        with monkeypatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            code = usage.run(app, "pingd", [*args, "--config", str(path), "--check-config"])
        out = capsys.readouterr()
        assert code == 0, out.err
        return json.loads(out.out), f"config file {path}"

    return run


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.key)
def test_every_setting_is_in_the_example_file_with_a_value_pingd_accepts(setting: Setting) -> None:
    assert setting.key in EXAMPLES, f"packaging/pingd.toml does not show {setting.key}"
    setting.parse(EXAMPLES[setting.key])


def test_the_example_file_says_which_settings_a_reload_applies() -> None:
    [line] = [line for line in EXAMPLE.read_text().splitlines() if "reload" in line]
    live = {s.key for s in SETTINGS if s.reloadable}
    assert live and all(key in line for key in live), line


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.key)
def test_flag_variable_and_file_key_set_the_same_setting(
    check_config: Callable[..., tuple[dict[str, Any], str]], setting: Setting
) -> None:
    """The example file's value for each setting, given each of three ways, comes out the same,
    credited to the way it was given; the settings it needs come from the file."""
    value, needs = EXAMPLES[setting.key], NEEDS.get(setting.key, {})
    by_flag, _ = check_config(_flag_args(setting, value), {}, needs)
    by_env, _ = check_config([], {setting.env: _env_text(value)}, needs)
    by_file, file_origin = check_config([], {}, {**needs, setting.key: value})
    results = {"command line": by_flag, "environment": by_env, file_origin: by_file}
    for origin, effective in results.items():
        assert effective["origins"][setting.key] == origin
    by_flag, by_env, by_file = ({k: v for k, v in r.items() if k != "origins"} for r in results.values())
    assert by_flag == by_env == by_file


def test_help_shows_every_setting_flag_and_its_default() -> None:
    import typer.main

    command = typer.main.get_command(app)
    ctx = command.make_context("pingd", [])
    records = {p.name: p.get_help_record(ctx) for p in command.get_params(ctx)}
    assert list(records)[: len(SETTINGS)] == [s.key for s in SETTINGS]
    for setting in SETTINGS:
        record = records[setting.key]
        assert record is not None and record[0].startswith(setting.flag), record
        shown = setting.help_default
        assert record[1].endswith(f"[default: {shown}]" if shown else setting.help), record
    assert set(records) - {s.key for s in SETTINGS} == {
        "print_dns_records",
        "config",
        "check_config",
        "version",
        "help",
    }
