from pathlib import Path

import pytest

from pingd import config
from pingd.config import Config, ConfigError


def test_defaults():
    c = config.resolve({}, {}, {})
    assert c == Config()
    assert c.port == config.DEFAULT_PORT and c.sync == "periodic" and c.mdns


def test_precedence_flags_over_environment_over_file():
    file = {"port": 1000, "sync": "always", "name": "from-file", "log_level": "debug"}
    env = {"PINGD_PORT": "2000", "PINGD_NAME": "from-env"}
    flags = {"port": 3000, "name": None, "mdns_interfaces": ()}
    c = config.resolve(flags, env, file)
    assert (c.port, c.name, c.sync, c.log_level) == (3000, "from-env", "always", "debug")


@pytest.mark.parametrize(
    "layer, values, message",
    [
        ("file", {"prot": 1}, "unknown setting 'prot'"),
        ("file", {"port": 70000}, "70000 is not a port"),
        ("file", {"port": True}, "port"),
        ("file", {"sync": "sometimes"}, "not one of periodic, always"),
        ("file", {"mdns": "perhaps"}, "not true or false"),
        ("env", {"PINGD_PORT": "http"}, "environment: port"),
        ("env", {"PINGD_COLOUR": "red"}, "unknown setting 'colour'"),
        ("flags", {"name": "x" * 64}, "at most 63 bytes"),
    ],
)
def test_bad_values_name_their_origin(layer, values, message):
    args = {"flags": {}, "env": {}, "file": {}}
    args[layer] = values
    with pytest.raises(ConfigError, match=message):
        config.resolve(args["flags"], args["env"], args["file"])


def test_environment_values_are_parsed():
    c = config.resolve({}, {"PINGD_MDNS": "no", "PINGD_MDNS_INTERFACES": "127.0.0.1, 10.0.0.1", "PINGD_STATE_FILE": "/x/s.json"}, {})
    assert c.mdns is False
    assert c.mdns_interfaces == ("127.0.0.1", "10.0.0.1")
    assert c.state_file == Path("/x/s.json")


def test_state_file_precedence(tmp_path):
    assert config.state_file_path(Config(state_file=Path("/a")), {"STATE_DIRECTORY": "/b"}) == Path("/a")
    assert config.state_file_path(Config(), {"STATE_DIRECTORY": "/b:/c"}) == Path("/b/state.json")
    assert config.state_file_path(Config(), {}).name == "state.json"


def test_file_layers(tmp_path):
    path = tmp_path / "pingd.toml"
    path.write_text('[pingd]\nport = 1234\nmdns-interfaces = ["127.0.0.1"]\n')
    c = config.load({}, path, environ={})
    assert c.port == 1234 and c.mdns_interfaces == ("127.0.0.1",) and c.config_file == path
    with pytest.raises(ConfigError, match="not found"):
        config.load({}, tmp_path / "missing.toml", environ={})
    path.write_text("port = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load({}, path, environ={})
    # The default location may be absent: that is not an error.
    assert config.load({}, None, environ={"CONFIGURATION_DIRECTORY": str(tmp_path / "none")}) == Config()
