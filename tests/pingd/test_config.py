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
        ("env", {"PINGD_PORT": "http"}, r"^PINGD_PORT='http': "),
        (
            "env",
            {"PINGD_COLOUR": "red"},
            r"^PINGD_COLOUR: no such setting \(pingd reads PINGD_ALLOW_CLIENTS, PINGD_BIND, ",
        ),
        ("env", {"PINGD_port": "7000"}, r"^PINGD_port: no such setting"),  # names are exact, as the shell's
        ("flags", {"name": "x" * 64}, "at most 63 bytes"),
        ("file", {"port": 7464.9}, "whole port number"),
        ("file", {"port": "oops"}, r'^port = "oops" in config file: expected a whole port number$'),
        ("file", {"port": [7464]}, r"^port = \[7464\] in config file: expected a whole port number$"),
        ("file", {"metrics": True}, r"^metrics = true in config file: expected ADDRESS:PORT in quotes"),  # as written
        ("env", {"PINGD_PORT": "7464.9"}, r"^PINGD_PORT='7464.9': "),
        ("file", {"bind": "10.0.0.300"}, r'^bind = "10.0.0.300" in config file: '),
        ("env", {"PINGD_BIND": "1.2.3"}, r"^PINGD_BIND='1.2.3': "),
        ("flags", {"bind": "no such;host"}, r"^--bind no such;host: "),
        ("flags", {"mdns_interfaces": ("eth0",)}, r"^--mdns-interface: 'eth0' is not an IP address"),
        ("env", {"PINGD_MDNS_INTERFACES": "127.0.0.1,bogus"}, r"^PINGD_MDNS_INTERFACES='127.0.0.1,bogus': "),
    ],
)
def test_bad_values_name_their_origin(layer, values, message):
    args = {"flags": {}, "env": {}, "file": {}}
    args[layer] = values
    with pytest.raises(ConfigError, match=message):
        config.resolve(args["flags"], args["env"], args["file"])


@pytest.mark.parametrize(
    "flags, env, message",
    [
        (
            {"port": "7700", "metrics": "127.0.0.1:7700"},
            {},
            r"^--metrics: port 7700 is the port pingd serves pings on \(its --port\)",
        ),
        ({"metrics": "*:7464"}, {}, r"^--metrics: port 7464 .* \(its --port\); give the metrics another port$"),
        (
            {"bind": "[::1]", "port": "7700"},
            {"PINGD_METRICS": "[0:0::1]:7700"},
            r"^PINGD_METRICS: port 7700 .*\(its --port\)",
        ),
    ],
)
def test_metrics_on_the_serving_port_is_refused_naming_both(flags, env, message):
    with pytest.raises(ConfigError, match=message):
        config.resolve(flags, env, {})


@pytest.mark.parametrize(
    "bind, metrics",
    [
        ("127.0.0.1", "0.0.0.0:7700"),  # a wildcard takes the family's every address
        ("127.0.0.1", "[::]:7700"),  # :: is dual-stack on Linux
        ("127.0.0.1", "[::ffff:127.0.0.1]:7700"),  # the IPv4 address, mapped
        ("0.0.0.0", "127.0.0.1:7700"),
        ("::", "0.0.0.0:7700"),
        ("[::]", "[::1]:7700"),
        ("::1", "[0:0::1]:7700"),
    ],
)
def test_metrics_on_the_serving_port_is_refused_however_the_addresses_are_spelled(bind, metrics):
    with pytest.raises(ConfigError, match=r"^--metrics: port 7700 is the port pingd serves pings on"):
        config.resolve({"bind": bind, "port": "7700", "metrics": metrics}, {}, {})


@pytest.mark.parametrize(
    "flags",
    [
        {"port": "0", "metrics": "127.0.0.1:0"},
        {"bind": "127.0.0.1", "port": "7700", "metrics": "127.0.0.2:7700"},
        {"bind": "0.0.0.0", "port": "7700", "metrics": "[::1]:7700"},  # families apart
        {"bind": "localhost", "port": "7700", "metrics": "127.0.0.1:7700"},  # a name: the binds decide
    ],
)
def test_metrics_may_share_a_port_number_where_the_binds_cannot_meet(flags):
    assert config.resolve(flags, {}, {}).metrics == flags["metrics"]


@pytest.mark.parametrize(
    "flags, env, message",
    [
        ({"mdns_interfaces": ("",)}, {}, r"^--mdns-interface: an empty interface address"),
        ({"mdns_interfaces": ("  ",)}, {}, r"^--mdns-interface: an empty interface address"),
        ({}, {"PINGD_MDNS_INTERFACES": ","}, r"^PINGD_MDNS_INTERFACES=',': an empty interface address"),
        ({"port": "70\n00"}, {}, r"^--port '70\\n00': expected a whole port number$"),  # one line, escaped
        ({"port": "7000\x1b[2J"}, {}, r"^--port '7000\\x1b\[2J': "),  # nothing a terminal acts on
        ({"port": "9" * 5000}, {}, r"^--port 9{80}\.\.\. \(5000 characters\): 9{12}\.\.\. is not a port"),
        ({"metrics": "*:7465,*:7466"}, {}, r"^--metrics \*:7465,\*:7466: expected one ADDRESS:PORT"),
        ({"metrics": "::1:7465"}, {}, r"^--metrics ::1:7465: write an IPv6 address in brackets"),
        ({}, {"PINGD_PORTT": "1"}, r"^PINGD_PORTT: no such setting"),
    ],
)
def test_what_an_outsider_tried_is_one_clear_line(flags, env, message):
    with pytest.raises(ConfigError, match=message) as info:
        config.resolve(flags, env, {})
    assert "\n" not in str(info.value) and "\x1b" not in str(info.value)


def test_an_empty_entry_between_two_addresses_is_a_slip_not_every_interface():
    assert config.resolve({}, {"PINGD_MDNS_INTERFACES": "127.0.0.1,,::1"}, {}).mdns_interfaces == ("127.0.0.1", "::1")


def test_environment_values_are_parsed():
    c = config.resolve(
        {}, {"PINGD_MDNS": "no", "PINGD_MDNS_INTERFACES": "127.0.0.1, 10.0.0.1", "PINGD_STATE_FILE": "/x/s.json"}, {}
    )
    assert c.mdns is False
    assert c.mdns_interfaces == ("127.0.0.1", "10.0.0.1")
    assert c.state_file == Path("/x/s.json")


def test_state_file_precedence(tmp_path):
    assert config.state_file_path(Config(state_file=Path("/a")), {"STATE_DIRECTORY": "/b"}) == Path("/a")
    assert config.state_file_path(Config(), {"STATE_DIRECTORY": "/b:/c"}) == Path("/b/state.json")
    assert config.state_file_path(Config(), {}).name == "state.json"


@pytest.mark.parametrize(
    "bind", ["*", "127.0.0.1", "::1", "[::1]", "fe80::1%eth0", "eth0", "localhost", "db-1.example.org"]
)
def test_bind_accepts_addresses_and_names(bind):
    assert config.resolve({"bind": bind}, {}, {}).bind in (bind, bind.strip("[]"))


def test_each_setting_knows_where_it_came_from():
    c = config.resolve({"port": 1}, {"PINGD_BIND": "127.0.0.1"}, {"name": "n"}, "config file /etc/pingd/pingd.toml")
    assert c.origin("port") == "--port"
    assert c.origin("bind") == "PINGD_BIND"
    assert c.origin("name") == "name in config file /etc/pingd/pingd.toml"
    assert c.origin("sync") == "--sync (default)"
    assert config.resolve({"mdns_interfaces": ("127.0.0.1",)}, {}, {}).origin("mdns_interfaces") == "--mdns-interface"


@pytest.mark.parametrize(
    "text, address",
    [
        ("192.0.2.53", ("192.0.2.53", 53)),
        ("192.0.2.53:5353", ("192.0.2.53", 5353)),
        ("2001:db8::53", ("2001:db8::53", 53)),
        ("[2001:db8::53]:5300", ("2001:db8::53", 5300)),
        ("ns1.example.org", ("ns1.example.org", 53)),
    ],
)
def test_dns_server_forms(text, address):
    c = config.resolve({"dns_domain": "example.org", "dns_server": text}, {}, {})
    assert c.dns_server_address == address


@pytest.mark.parametrize(
    "values, message",
    [
        ({"dns_domain": "exa mple.org"}, "not a domain name"),
        ({"dns_domain": "-bad.org"}, "not a domain name"),
        ({"dns_domain": "example.org", "dns_server": "192.0.2.53:0"}, "is not a port"),
        ({"dns_domain": "example.org", "dns_server": "[2001:db8::53]x"}, "expected"),
        ({"dns_domain": "example.org", "dns_server": "1.2.3"}, "not an IP address or host name"),
        ({"dns_server": "192.0.2.53"}, "--dns-server needs a domain to register in"),
        ({"dns_key": "/etc/pingd/dns.key"}, "--dns-key needs a domain"),
    ],
)
def test_bad_dns_settings_say_what_is_wrong(values, message):
    with pytest.raises(ConfigError, match=message):
        config.resolve(values, {}, {})


def test_dns_settings_from_the_environment_and_file():
    c = config.resolve({}, {"PINGD_DNS_DOMAIN": "example.org."}, {"dns_key": "/etc/pingd/dns.key"})
    assert (c.dns_domain, c.dns_key, c.dns_server_address) == ("example.org", Path("/etc/pingd/dns.key"), None)


@pytest.mark.parametrize("name", ["box\x1b[2J", "a\nb", "x" * 64])
def test_an_instance_name_pingctl_would_refuse_is_refused_here(name):
    with pytest.raises(ConfigError, match="instance name"):
        config.resolve({"name": name}, {}, {})


def test_a_reload_applies_only_the_log_level_and_the_daemon_agrees():
    """A SIGHUP changes only what the daemon can apply live (the log level); the daemon warns about
    every other setting that changed, and its list of those is the table's."""
    from pingd import daemon

    assert [s.key for s in config.SETTINGS if s.reloadable] == ["log_level"]
    assert set(config.RESTART_ONLY) == set(config.PARSERS) - {"log_level"}
    assert tuple(daemon.RESTART_ONLY) == config.RESTART_ONLY


def test_an_unknown_setting_lists_the_known_ones():
    with pytest.raises(ConfigError) as info:
        config.resolve({}, {}, {"prot": 1}, "config file /etc/pingd/pingd.toml")
    assert str(info.value) == (
        "config file /etc/pingd/pingd.toml: unknown setting 'prot' (known: allow_clients, bind, curve, dns_domain, "
        "dns_key, dns_server, log_level, mdns, mdns_backend, mdns_interfaces, mesh, mesh_interval, mesh_peers, "
        "metrics, name, port, state_file, sync)"
    )


def test_only_pingd_variables_are_settings_and_pingd_config_is_not_one():
    environ = {"PATH": "/usr/bin", "HOME": "/root", "PINGD_CONFIG": "/etc/pingd/pingd.toml", "PINGD_PORT": "1"}
    assert config.env_settings(environ) == {"port": "1"}
    assert config.resolve({}, environ, {}) == Config(port=1)


def test_allow_clients_needs_curve():
    with pytest.raises(ConfigError) as info:
        config.resolve({"allow_clients": "/etc/pingd/clients"}, {}, {})
    assert str(info.value) == "allow_clients needs curve: add --curve (curve = true), since keys need encryption"
    resolved = config.resolve({"allow_clients": "/etc/pingd/clients", "curve": True}, {}, {})
    assert (resolved.allow_clients, resolved.curve) == (Path("/etc/pingd/clients"), True)


def test_avahi_on_loopback_is_refused_naming_the_setting_as_given():
    with pytest.raises(ConfigError) as info:
        config.resolve({"mdns_backend": "avahi", "mdns_interfaces": ("10.0.0.5", "127.0.0.1")}, {}, {})
    assert str(info.value) == (
        "--mdns-backend cannot announce on 127.0.0.1: avahi-daemon never uses loopback "
        "(use --mdns-backend zeroconf, or another --mdns-interface or --bind)"
    )
    with pytest.raises(ConfigError, match=r"^PINGD_MDNS_BACKEND cannot announce on ::1"):
        config.resolve({"mdns_interfaces": ("::1",)}, {"PINGD_MDNS_BACKEND": "Avahi"}, {})
    with pytest.raises(ConfigError, match=r"^--mdns-backend cannot announce on 127.0.0.1: "):
        config.resolve({"mdns_backend": "avahi", "bind": "127.0.0.1"}, {}, {})
    assert config.resolve({"mdns_interfaces": ("127.0.0.1",)}, {}, {}).mdns_backend == "auto"
    assert config.resolve({"mdns_backend": "avahi", "bind": "*"}, {}, {}).bind == "*"
    assert config.resolve({"mdns_interfaces": ("10.0.0.5",), "mdns_backend": "avahi"}, {}, {}).mdns_backend == "avahi"
    with pytest.raises(ConfigError, match=r"^--mdns-backend bonjour: 'bonjour' is not one of auto, avahi, zeroconf"):
        config.resolve({"mdns_backend": "bonjour"}, {}, {})


@pytest.mark.parametrize(
    ("given", "why"),
    [
        ("0.0.0.0", "'0.0.0.0' is no interface's address"),
        ("::", "'::' is no interface's address"),
        ("224.0.0.251", "'224.0.0.251' is no interface's address"),
        ("::ffff:127.0.0.1", "'::ffff:127.0.0.1' is an IPv4 address written as IPv6: give 127.0.0.1"),
    ],
)
def test_an_mdns_interface_must_be_an_interfaces_own_address(given, why):
    with pytest.raises(ConfigError) as info:
        config.resolve({"mdns_interfaces": (given,)}, {}, {})
    assert str(info.value).startswith(f"--mdns-interface: {why}")


def test_the_state_file_follows_the_process_environment_unless_given_one(monkeypatch):
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/pingd")
    assert config.state_file_path(Config()) == Path("/var/lib/pingd/state.json")


def test_without_a_state_directory_the_state_file_is_in_the_users_state_directory(monkeypatch):
    from platformdirs import user_state_path

    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    assert config.state_file_path(Config()) == user_state_path("pingd") / "state.json"
    assert config.state_file_path(Config(), {}) == user_state_path("pingd") / "state.json"


def test_metrics_that_cannot_be_served_are_named_as_given():
    with pytest.raises(ConfigError) as info:
        config.resolve({"metrics": "localhost:7465"}, {}, {})
    assert str(info.value) == "--metrics localhost:7465: 'localhost' is not an IP address (or * for every interface)"
    with pytest.raises(ConfigError) as info:
        config.resolve({}, {"PINGD_METRICS": "127.0.0.1"}, {})
    assert str(info.value).startswith("PINGD_METRICS='127.0.0.1': expected ADDRESS:PORT")
    with pytest.raises(ConfigError) as info:
        config.resolve({}, {}, {"metrics": 7465}, "config file F")
    assert str(info.value) == (
        'metrics = 7465 in config file F: expected ADDRESS:PORT in quotes, such as "127.0.0.1:7465"'
    )
