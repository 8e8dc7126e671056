"""Reading the settings file and the environment (pingd.configfile): real files in tmp_path."""

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
