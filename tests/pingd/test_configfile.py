"""Reading the settings file and the environment (pingd.configfile): real files in tmp_path."""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pingd import configfile
from pingd.config import Config, ConfigError


def test_file_layers(tmp_path):
    path = tmp_path / "pingd.toml"
    path.write_text('[pingd]\nport = 1234\nmdns-interfaces = ["127.0.0.1"]\n')
    c = configfile.load({}, path, environ={})
    assert c.port == 1234 and c.mdns_interfaces == ("127.0.0.1",) and c.config_file == path
    with pytest.raises(ConfigError, match="not found"):
        configfile.load({}, tmp_path / "missing.toml", environ={})
    path.write_text("port = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        configfile.load({}, path, environ={})
    # The default location may be absent: that is not an error.
    assert configfile.load({}, None, environ={"CONFIGURATION_DIRECTORY": str(tmp_path / "none")}) == Config()


def test_a_settings_file_that_is_not_utf8_is_one_clear_error(tmp_path):
    path = tmp_path / "pingd.toml"
    path.write_bytes(b'name = "caf\xe9"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        configfile.load({}, path, environ={})
    # The default location too: a bad file there is an error, never a traceback.
    default = tmp_path / "conf"
    default.mkdir()
    (default / "pingd.toml").write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match="not UTF-8"):
        configfile.load({}, None, environ={"CONFIGURATION_DIRECTORY": str(default)})


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_settings_file_loads_or_is_one_config_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("toml") / "pingd.toml"
    path.write_bytes(data)
    try:
        configfile.load({}, path, environ={})
    except ConfigError as exc:
        assert "\n" not in str(exc)


def test_a_settings_file_that_is_a_fifo_is_one_clear_error_not_a_hang(tmp_path):
    import os

    fifo = tmp_path / "pingd.toml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match=r"pingd.toml: is a FIFO, not a regular file"):
        configfile.read_file(fifo, required=True)


def test_a_file_of_comments_only_is_still_the_file_read(tmp_path):
    """The shipped pingd.toml sets nothing (every line a comment): it was read all the same,
    and --check-config must say so rather than `"config_file": null`."""
    conf = tmp_path / "pingd.toml"
    conf.write_text("# port = 7464\n")
    assert configfile.load({}, None, environ={"CONFIGURATION_DIRECTORY": str(tmp_path)}).config_file == conf
    assert configfile.load({}, None, environ={"CONFIGURATION_DIRECTORY": str(tmp_path / "none")}).config_file is None


def test_the_service_environment_is_the_units_directories_only_on_a_host_with_the_unit(tmp_path, monkeypatch):
    unit = tmp_path / "pingd.service"
    monkeypatch.setattr(configfile, "SERVICE_UNITS", (tmp_path / "elsewhere.service", unit))
    assert configfile.service_environment({"HOME": "/root"}) is None  # no unit: the user's own files
    unit.symlink_to("/dev/null")  # a masked unit is still the host's service
    env = configfile.service_environment({"HOME": "/root", "PINGD_PORT": "1"})
    assert env == {"HOME": "/root", "PINGD_PORT": "1", **configfile.SERVICE_DIRECTORIES}
    assert configfile.SERVICE_DIRECTORIES == {
        "CONFIGURATION_DIRECTORY": "/etc/pingd",
        "STATE_DIRECTORY": "/var/lib/pingd",
    }
    # Under systemd already (ExecReload=, or any unit): what systemd gave is what counts.
    assert configfile.service_environment({"CONFIGURATION_DIRECTORY": "/etc/other"}) is None
    assert configfile.service_environment({"STATE_DIRECTORY": "/var/lib/other"}) is None


def test_the_service_directories_are_the_units_own():
    unit = (Path(__file__).resolve().parents[2] / "packaging/systemd/pingd.service").read_text()
    assert "ConfigurationDirectory=pingd\n" in unit and "StateDirectory=pingd\n" in unit


def test_a_file_this_user_may_not_read_is_unreadable_not_missing(tmp_path, monkeypatch):
    from pingd.shared import files

    def denied(path, limit, follow=True):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(files, "read_regular", denied)
    with pytest.raises(configfile.Unreadable, match=r"pingd.toml: Permission denied$"):
        configfile.load({}, None, environ={"CONFIGURATION_DIRECTORY": str(tmp_path)})


def test_sources_name_each_file_and_whose_it_is(tmp_path):
    conf = tmp_path / "pingd.toml"
    state = Path("/var/lib/pingd/state.json")
    service = {"CONFIGURATION_DIRECTORY": str(tmp_path), "STATE_DIRECTORY": "/var/lib/pingd"}
    conf.write_text("")
    read = configfile.load({}, None, service)
    assert configfile.sources(read, None, service, state, service=True) == (
        f"settings {conf} (the pingd service's), state file {state} (the pingd service's); "
        "--config and --state-file name others"
    )
    assert configfile.sources(read, None, service, state, service=False) == (
        f"settings {conf} (systemd's), state file {state} (systemd's)"
    )
    none = configfile.load({}, None, {"CONFIGURATION_DIRECTORY": str(tmp_path / "no")})
    line = configfile.sources(none, None, {}, tmp_path / "s.json", service=False)
    assert line.startswith("no settings file (yours would be ") and line.endswith(
        f"state file {tmp_path / 's.json'} (yours)"
    )
    given = configfile.load({"state_file": "/x/state.json"}, conf, {})
    assert configfile.sources(given, conf, {}, Path("/x/state.json"), service=True) == (
        f"settings {conf} (--config), state file /x/state.json (--state-file); --config and --state-file name others"
    )
    from_env = configfile.load({}, None, {"PINGD_CONFIG": str(conf), "PINGD_STATE_FILE": "/y"})
    assert configfile.sources(from_env, None, {"PINGD_CONFIG": str(conf)}, Path("/y"), service=False) == (
        f"settings {conf} ($PINGD_CONFIG), state file /y (PINGD_STATE_FILE)"
    )


def test_a_link_to_nothing_is_not_taken_for_no_settings(tmp_path):
    """A settings file that is a dangling link was meant to be there: the service must not run
    on defaults because its target went missing."""
    (tmp_path / "pingd.toml").symlink_to(tmp_path / "gone.toml")
    with pytest.raises(ConfigError, match=r"pingd.toml: a link to .*gone.toml, which does not exist$"):
        configfile.load({}, None, environ={"CONFIGURATION_DIRECTORY": str(tmp_path)})


@pytest.mark.parametrize(
    "text, message",
    [
        ("port = " + "9" * 4301 + "\n", r"config file .*: a number too long to be any setting's value$"),
        ("bogus = " + "9" * 4301 + "\n", r"a number too long"),
        ("mesh_interval = 1" + "0" * 308 + "\n", r"^mesh_interval = 1000.*characters\) in .*: too large a number"),
        ("port = 0x" + "f" * 4000 + "\n", r"^port = a number of thousands of digits in .*: too large a number"),
        ("mesh_peers = 0x" + "f" * 20 + "\n", r"^mesh_peers = 1208925819614629174706175 in .*: too large a number"),
    ],
)
def test_numbers_too_large_for_python_are_one_line_not_a_traceback(tmp_path, text, message):
    path = tmp_path / "pingd.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        configfile.load({}, path, environ={})
    assert "\n" not in str(info.value) and len(str(info.value)) < 400


def test_a_byte_order_mark_is_no_setting(tmp_path):
    path = tmp_path / "pingd.toml"
    path.write_bytes(b"\xef\xbb\xbfport = 7001\n")
    assert configfile.load({}, path, environ={}).port == 7001


@pytest.mark.parametrize(
    "text, shown",
    [
        ("port = 1979-05-27\n", "port = 1979-05-27 in"),
        ("port = {a = 1}\n", "port = {a = 1} in"),
        ("port = [true]\n", "port = [true] in"),
        ('name = ["a", "b"]\n', 'name = ["a", "b"] in'),
    ],
)
def test_a_refused_file_value_is_shown_as_toml_writes_it(tmp_path, text, shown):
    path = tmp_path / "pingd.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        configfile.load({}, path, environ={})
    assert str(info.value).startswith(shown), str(info.value)
