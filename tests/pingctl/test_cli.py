"""pingctl's command line in-process (typer's CliRunner): options, errors and exit codes."""

import pytest
from typer.testing import CliRunner

from pingctl import cli
from pingctl.errors import PingctlError

runner = CliRunner()


def invoke(*args):
    result = runner.invoke(cli.app, list(args))
    if isinstance(result.exception, PingctlError):
        return result.exception.exit_code, str(result.exception)
    return result.exit_code, result.output


def test_help_lists_commands_and_shows_defaults():
    code, out = invoke("--help")
    assert code == 0
    for command in ("ping", "status", "discover"):
        assert command in out
    code, out = invoke("ping", "--help")
    text = " ".join(out.split())  # help wraps to the terminal's width
    assert code == 0
    assert "[default: 100]" in text and "[default: 2.0]" in text and "--server-ip" in text


def test_version():
    code, out = invoke("--version")
    assert code == 0 and out.startswith("pingctl ")


@pytest.mark.parametrize(
    "args, message",
    [
        (["ping", "--server-ip", "127.0.0.1", "--count", "-1"], "--count"),
        (["ping", "--server-ip", "127.0.0.1", "--interval", "-1"], "--interval"),
        (["ping", "--server-ip", "127.0.0.1", "--timeout", "0"], "--timeout"),
        (["ping", "--server-ip", "127.0.0.1", "--deadline", "0"], "--deadline"),
        (["ping", "--server-ip", "127.0.0.1", "--port", "70000"], "port 70000"),
        (["ping", "--port", "7464"], "--port needs --server-ip"),
        (["ping", "--server-ip", "127.0.0.1", "--name", "x"], "--name"),
        (["status", "--discovery-timeout", "0"], "--discovery-timeout"),
        (["discover", "--timeout", "0"], "--timeout"),
        (["discover", "--timeout", "nan"], "--timeout"),
        (["ping", "--server-ip", "127.0.0.1", "--timeout", "inf"], "--timeout"),
        (["ping", "--server-ip", "127.0.0.1", "--timeout", "1e300"], "--timeout"),
        (["ping", "--server-ip", "127.0.0.1", "--timeout", "nan"], "--timeout"),
        (["ping", "--server-ip", "127.0.0.1", "--interval", "nan"], "--interval"),
        (["ping", "--server-ip", "127.0.0.1", "--interval", "inf"], "--interval"),
        (["ping", "--server-ip", "127.0.0.1", "--deadline", "nan"], "--deadline"),
        (["ping", "--discovery-timeout", "inf"], "--discovery-timeout"),
        (["status", "--server-ip", "127.0.0.1", "--watch", "inf"], "--watch"),
        (["status", "--server-ip", "127.0.0.1", "--watch", "nan"], "--watch"),
        (["status", "--server-ip", "127.0.0.1", "--timeout", "1e300"], "--timeout"),
    ],
)
def test_bad_values_are_one_clear_error_with_exit_2(args, message):
    code, out = invoke(*args)
    assert code == 2
    assert message in out


def test_unparseable_option_is_a_usage_error():
    code, out = invoke("ping", "--count", "many")
    assert code == 2


def test_watch_takes_an_optional_value_for_status_only():
    from pingctl.cli import _optional_watch_value

    assert _optional_watch_value(["status", "--watch"]) == ["status", "--watch", "1"]
    assert _optional_watch_value(["status", "--watch", "2.5"]) == ["status", "--watch", "2.5"]
    assert _optional_watch_value(["discover", "--watch", "--json"]) == ["discover", "--watch", "--json"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["ping", "--server-ip", "127.0.0.1", "--domain", "example.org"], "--domain chooses among discovered daemons"),
        (["status", "--server-ip", "127.0.0.1", "--domain", "example.org"], "--domain chooses among"),
    ],
)
def test_domain_conflicts_are_usage_errors(args, message):
    code, out = invoke(*args)
    assert code == 2 and message in out
