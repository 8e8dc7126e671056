"""Bad settings from any layer: one line that names where the setting came from, a documented
exit code, never a traceback, and nothing started."""

from __future__ import annotations

import pytest

from tests.support.processes import Daemon, base_env


@pytest.fixture
def pingd_run(tmp_path):
    """Start pingd with exactly these flags and environment; killed at teardown if it ran."""
    started: list[Daemon] = []

    def run(*args: str, **env: str) -> Daemon:
        d = Daemon(
            args=["--port", "0", "--no-mdns", "--state-file", str(tmp_path / "state.json"), *args], env=base_env(**env)
        )
        started.append(d)
        return d.start(wait_ready=False)

    yield run
    for d in started:
        d.kill()


def _fails(daemon: Daemon, code: int, *needles: str) -> None:
    assert daemon.wait() == code, daemon.output
    assert "Traceback" not in daemon.output
    for needle in needles:
        assert needle in daemon.output, daemon.output


@pytest.mark.parametrize(
    "args, env, code, needles",
    [
        (("--bind", "10.0.0.300"), {}, 2, ("--bind 10.0.0.300: ",)),
        ((), {"PINGD_BIND": "1.2.3"}, 2, ("PINGD_BIND='1.2.3': ",)),
        (("--bind", "127.0.0.1"), {"PINGD_PORT": "7464.9"}, 2, ("PINGD_PORT='7464.9': ",)),
        (("--bind", "192.0.2.1"), {}, 4, ("check --bind",)),  # a good address this host lacks
        ((), {"PINGD_BIND": "192.0.2.1"}, 4, ("check PINGD_BIND",)),
        (("--bind", "127.0.0.1", "--mdns-interface", "eth-nope"), {}, 2, ("--mdns-interface: ", "not an IP address")),
        (
            ("--bind", "127.0.0.1", "--curve", "--allow-clients", "/nonexistent/keys"),
            {},
            3,
            ("/nonexistent/keys", "from --allow-clients"),
        ),
        (
            ("--bind", "127.0.0.1", "--curve"),
            {"PINGD_ALLOW_CLIENTS": "/nonexistent/keys"},
            3,
            ("from PINGD_ALLOW_CLIENTS",),
        ),
    ],
)
def test_bad_settings_name_their_origin(pingd_run, args, env, code, needles):
    _fails(pingd_run(*args, **env), code, *needles)


def test_a_settings_file_that_is_not_utf8_is_one_line_and_exit_2(pingd_run, tmp_path):
    config = tmp_path / "pingd.toml"
    config.write_bytes(b'name = "caf\xe9"\n')
    _fails(pingd_run("--config", str(config)), 2, "not UTF-8")


def test_a_state_file_path_gets_the_same_answer_from_flag_and_environment(pingd_run, tmp_path):
    """No option type checks paths behind pingd's back: the state file's problems are pingd's
    own one-line error, exit 3, however the path was given."""
    directory = tmp_path / "a-directory"
    directory.mkdir()
    _fails(pingd_run("--bind", "127.0.0.1", "--state-file", str(directory)), 3, "is a directory")
    environment = Daemon(
        args=["--bind", "127.0.0.1", "--port", "0", "--no-mdns"], env=base_env(PINGD_STATE_FILE=str(directory))
    )
    try:
        _fails(environment.start(wait_ready=False), 3, "is a directory")
    finally:
        environment.kill()
    import typer.main

    from pingd.cli import app

    command = typer.main.get_command(app)
    for option in ("state_file", "allow_clients", "config"):
        [param] = [p for p in command.params if p.name == option]
        assert type(param.type).__name__ != "Path", option
