"""pingctl's app as assembled from its commands, and ``main``: help, version, and every failure
as one line with its exit code (each command's options are tested in tests/pingctl/commands)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from pingctl import cli
from pingctl.errors import PingctlError

runner = CliRunner()


def test_help_lists_the_commands_in_order_and_each_command_shows_its_defaults():
    result = runner.invoke(cli.app, ["--help"])
    commands = result.output.split("Commands:")[1].split()
    assert result.exit_code == 0
    assert [word for word in commands if word in ("ping", "status", "discover", "keys")] == [
        "ping", "status", "discover", "keys",
    ]  # fmt: skip
    result = runner.invoke(cli.app, ["ping", "--help"])
    text = " ".join(result.output.split())  # help wraps to the terminal's width
    assert result.exit_code == 0
    assert "[default: 100]" in text and "[default: 2.0]" in text and "--server-ip" in text
    assert "Print the version and exit." not in text  # the app's options are not the command's


def test_keys_is_a_group_with_show():
    result = runner.invoke(cli.app, ["keys", "--help"])
    assert result.exit_code == 0 and "show" in result.output.split("Commands:")[1]


def test_version(capsys):
    with pytest.raises(SystemExit) as exit:
        cli.main(["--version"])
    assert exit.value.code == 0 and capsys.readouterr().out.startswith("pingctl ")


def test_an_expected_failure_is_one_line_and_debug_shows_the_exception(capsys):
    with pytest.raises(SystemExit) as exit:
        cli.main(["ping", "--server-ip", "127.0.0.1", "--count", "-1"])
    assert exit.value.code == 2
    assert capsys.readouterr().err == "pingctl: --count must be 0 (until interrupted) or more\n"
    with pytest.raises(PingctlError, match="--count must be 0"):
        cli.main(["--debug", "ping", "--server-ip", "127.0.0.1", "--count", "-1"])


def test_a_usage_error_names_the_commands_help(capsys):
    with pytest.raises(SystemExit) as exit:
        cli.main(["status", "--port", "many"])
    assert exit.value.code == 2 and "(see 'pingctl status --help')" in capsys.readouterr().err


def test_no_command_shows_the_help_and_exit_2(capsys):
    with pytest.raises(SystemExit) as exit:
        cli.main([])
    assert exit.value.code == 2 and "Commands:" in capsys.readouterr().out


def test_python_dash_m_pingctl_runs_the_same_main():
    run = subprocess.run([sys.executable, "-m", "pingctl", "--version"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.startswith("pingctl ")
