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

from pingd import configfile
from pingd.cli import app
from pingd.serve.statefile import render
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
        "quiet",
        "version",
        "help",
    }


# --- which pingd the one-shot commands describe -------------------------------------------------


@pytest.fixture
def service_host(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Path, Path]:
    """A host that has the pingd service, in tmp_path: its unit, its settings directory and its
    state directory (made by systemd at the service's first start, so not there yet)."""
    for name in list(os.environ):
        if name.startswith("PINGD_") or name in ("CONFIGURATION_DIRECTORY", "STATE_DIRECTORY"):
            monkeypatch.delenv(name)
    unit, etc, var = tmp_path / "pingd.service", tmp_path / "etc", tmp_path / "var"
    unit.write_text("[Service]\n")
    etc.mkdir()
    monkeypatch.setattr(configfile, "SERVICE_UNITS", (unit,))
    monkeypatch.setattr(
        configfile, "SERVICE_DIRECTORIES", {"CONFIGURATION_DIRECTORY": str(etc), "STATE_DIRECTORY": str(var)}
    )
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home/.config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "home/.local/state"))
    return etc / "pingd.toml", var / "state.json"


def _pingd(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = usage.run(app, "pingd", list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_check_config_by_hand_checks_the_services_file(service_host, capsys) -> None:
    conf, state = service_host
    conf.write_text("# every line a comment, as shipped\n")
    code, out, err = _pingd(capsys, "--check-config")
    assert code == 0, err
    printed = json.loads(out)
    assert (printed["config_file"], printed["state_file"]) == (str(conf), str(state))
    assert err == (
        f"pingd: settings {conf} (the pingd service's), state file {state} (the pingd service's); "
        "--config and --state-file name others\n"
    )
    conf.write_text('port = "oops"\n')
    code, out, err = _pingd(capsys, "--check-config")
    assert (code, out) == (2, "")
    assert err == f'pingd: port = "oops" in config file {conf}: expected a whole port number\n'


def test_quiet_check_config_says_nothing_unless_a_setting_is_bad(service_host, capsys) -> None:
    conf, _ = service_host
    conf.write_text("port = 7000\n")
    assert _pingd(capsys, "--check-config", "--quiet") == (0, "", "")
    conf.write_text("port = [")
    code, out, err = _pingd(capsys, "--check-config", "--quiet")
    assert (
        (code, out) == (2, "") and err.startswith(f"pingd: config file {conf}: not valid TOML") and err.count("\n") == 1
    )
    code, _, err = _pingd(capsys, "--quiet", "--port", "0")  # serving: nothing to keep quiet
    assert code == 2 and err == "pingd: --quiet goes with --check-config or --print-dns-records\n"


def test_a_service_file_this_user_cannot_read_says_whose_it_is(service_host, capsys, monkeypatch) -> None:
    from pingd.shared import files

    def denied(path: Path, limit: int, follow: bool = True) -> bytes:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(files, "read_regular", denied)
    code, out, err = _pingd(capsys, "--check-config")
    assert (code, out) == (2, "")
    assert err == (
        f"pingd: config file {service_host[0]}: Permission denied; it is the pingd service's: run as root "
        "(sudo), or name your own with --config and --state-file\n"
    )


def test_print_dns_records_reads_the_services_state_and_never_makes_one(service_host, capsys, tmp_path) -> None:
    conf, state = service_host
    conf.write_text('dns_domain = "example.org"\nname = "box"\nbind = "192.0.2.10"\n')
    before = _tree(tmp_path)
    code, out, err = _pingd(capsys, "--print-dns-records")
    assert (code, out) == (3, "")
    assert err.splitlines()[1] == (
        f"pingd: {state} does not exist yet: the pingd service makes it when it first starts (systemctl start "
        "pingd); --print-dns-records only reads the service's files"
    )
    assert _tree(tmp_path) == before  # no state file, no directory, no node id made
    state.parent.mkdir()
    state.symlink_to(tmp_path / "gone.json")
    code, out, err = _pingd(capsys, "--print-dns-records")
    assert (
        code == 3 and err.splitlines()[1] == f"pingd: {state}: a link to {tmp_path / 'gone.json'}, which does not exist"
    )
    state.unlink()
    state.write_bytes(render("abcdef0123456789", 7))
    code, out, err = _pingd(capsys, "--print-dns-records")
    assert code == 0, err
    records = [" ".join(line.split()) for line in out.splitlines()]
    assert "box._pingd._tcp.example.org. 60 IN SRV 0 0 7464 pingd-abcdef0123456789.example.org." in records
    assert "pingd-abcdef0123456789.example.org. 60 IN A 192.0.2.10" in records
    assert err == (
        f"pingd: settings {conf} (the pingd service's), state file {state} (the pingd service's); "
        "--config and --state-file name others\n"
    )
    # Serving encrypted, the records carry its key: the service's, never one made now.
    before = _tree(tmp_path)
    code, out, err = _pingd(capsys, "--print-dns-records", "--curve")
    assert code == 3 and f"{state.parent / 'pingd-curve.key_secret'} does not exist yet" in err
    assert _tree(tmp_path) == before


def test_by_hand_on_a_host_without_the_service_the_files_are_the_users(service_host, capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(configfile, "SERVICE_UNITS", (tmp_path / "no-such.service",))
    code, out, err = _pingd(capsys, "--check-config")
    assert code == 0, err
    mine = tmp_path / "home/.local/state/pingd/state.json"
    assert json.loads(out)["state_file"] == str(mine) and json.loads(out)["config_file"] is None
    assert err == (
        f"pingd: no settings file (yours would be {tmp_path / 'home/.config/pingd/pingd.toml'}), "
        f"state file {mine} (yours)\n"
    )


def test_print_dns_records_on_the_services_files_makes_nothing_even_past_its_check(
    service_host, capsys, tmp_path, monkeypatch
) -> None:
    """The read-only promise is kept where the files are opened, not by the check before it: a
    file gone between the check and the read (here, a check that saw nothing amiss) is refused,
    and neither a state file nor a key pair is made in its place."""
    from pingd import cli

    conf, state = service_host
    conf.write_text('dns_domain = "example.org"\nname = "box"\nbind = "192.0.2.10"\n')
    monkeypatch.setattr(cli, "_not_readable", lambda state_path, curve: None)
    before = _tree(tmp_path)
    code, out, err = _pingd(capsys, "--print-dns-records")
    assert (code, out) == (3, "") and err.splitlines()[1].startswith(f"pingd: state file {state}: does not exist")
    assert _tree(tmp_path) == before
    state.parent.mkdir()
    state.write_bytes(render("abcdef0123456789", 7))
    before = _tree(tmp_path)
    code, out, err = _pingd(capsys, "--print-dns-records", "--curve")
    key = state.parent / "pingd-curve.key_secret"
    assert (code, out) == (3, "") and err.splitlines()[1] == f"pingd: key file {key} does not exist"
    assert _tree(tmp_path) == before  # no key pair made


@pytest.mark.parametrize("text", ["１２３４", "1_000", "abc", "7464.0"])
def test_a_number_given_as_a_flag_is_read_by_pingd_not_by_python(capsys, text) -> None:
    """typer's int() would take full-width digits and underscores; pingd's own parser names the flag."""
    code, out, err = _pingd(capsys, "--port", text, "--check-config")
    assert (code, out) == (2, "")
    assert err == f"pingd: --port {text}: expected a whole port number\n"
    code, out, err = _pingd(capsys, "--mesh-peers", text, "--check-config")
    assert (code, out) == (2, "") and err.startswith(f"pingd: --mesh-peers {text}: "), err
