"""What each setting is (pingd.settings): its parser, and what one declaration gives a setting."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pingd import settings
from pingd.settings import BY_KEY, Config, Setting


def parse(key: str, value: Any) -> Any:
    return BY_KEY[key].parse(value)


def refusal(key: str, value: Any) -> str:
    with pytest.raises(ValueError) as info:
        parse(key, value)
    return str(info.value)


@pytest.mark.parametrize("value, port", [(0, 0), (65535, 65535), ("7464", 7464), (" 80 ", 80), ("0007464", 7464)])
def test_a_port_is_0_to_65535(value: Any, port: int) -> None:
    assert parse("port", value) == port


def test_a_port_outside_the_range_or_not_whole_is_refused_saying_so() -> None:
    assert refusal("port", 65536) == "65536 is not a port (0-65535; 0 picks a free one)"
    assert refusal("port", -1) == "-1 is not a port (0-65535; 0 picks a free one)"
    assert refusal("port", 7464.9) == "expected a whole port number"
    assert refusal("port", True) == "expected a whole port number"
    # Text is ASCII digits only, never what Python's int() would also take.
    for text in ("１２３４", "1_000", "-1", "+80", "0x50", "7464.0", ""):
        assert refusal("port", text) == "expected a whole port number", text
    assert refusal("port", "9" * 5000) == "999999999999... is not a port (0-65535; 0 picks a free one)"


def test_a_choice_is_taken_in_any_case_and_a_wrong_one_lists_the_choices() -> None:
    assert parse("sync", "ALWAYS") == "always"
    assert parse("log_level", "Debug") == "debug"
    assert refusal("sync", "sometimes") == "'sometimes' is not one of periodic, always"
    assert refusal("log_level", "loud") == "'loud' is not one of debug, info, warning, error"


@pytest.mark.parametrize("word", ["1", "true", "yes", "on", "TRUE", " Yes ", "On", 1, True])
def test_the_words_for_true(word: Any) -> None:
    assert parse("mdns", word) is True


@pytest.mark.parametrize("word", ["0", "false", "no", "off", "FALSE", " No", "OFF", 0, False])
def test_the_words_for_false(word: Any) -> None:
    assert parse("mdns", word) is False


def test_anything_else_is_neither_true_nor_false() -> None:
    assert refusal("curve", "perhaps") == "'perhaps' is not true or false"


@pytest.mark.parametrize("value", ["", "   ", 5, None])
def test_a_text_setting_needs_a_non_empty_string(value: Any) -> None:
    assert refusal("name", value) == "expected a non-empty string"
    assert refusal("state_file", value) == "expected a non-empty string"


def test_a_text_setting_is_stripped() -> None:
    assert parse("name", " box ") == "box"


@pytest.mark.parametrize(
    "value, bind",
    [
        ("*", "*"),
        ("[::1]", "::1"),
        ("10.0.0.1", "10.0.0.1"),
        ("eth0", "eth0"),
        ("X10.0.0.1", "X10.0.0.1"),  # a host name, however much of an address it contains
    ],
)
def test_bind_takes_an_address_or_a_name(value: str, bind: str) -> None:
    assert parse("bind", value) == bind


@pytest.mark.parametrize("value", ["no such;host", "1.2.3", "10.0.0.300", "[eth0"])
def test_bind_refuses_what_is_neither_an_address_nor_a_name(value: str) -> None:
    assert refusal("bind", value) == "not *, an IP address, or an interface or host name"


@pytest.mark.parametrize(
    "value, addresses",
    [
        ("127.0.0.1", ("127.0.0.1",)),
        ("127.0.0.1,,::1", ("127.0.0.1", "::1")),  # empty items are skipped, not the end
        (["127.0.0.1", " ", "::1"], ("127.0.0.1", "::1")),
        ((), ()),
    ],
)
def test_interfaces_are_a_list_of_addresses(value: Any, addresses: tuple[str, ...]) -> None:
    assert parse("mdns_interfaces", value) == addresses


def test_interfaces_that_are_not_a_list_of_addresses_are_refused() -> None:
    assert refusal("mdns_interfaces", 5) == "expected a list of interface addresses"
    assert refusal("mdns_interfaces", "127.0.0.1,eth0") == "'eth0' is not an IP address (give the interface's address)"


def test_a_path_may_be_given_as_a_path_and_has_its_home_expanded() -> None:
    assert parse("state_file", Path("/var/lib/pingd/state.json")) == Path("/var/lib/pingd/state.json")
    assert parse("dns_key", "~/dns.key") == Path.home() / "dns.key"
    assert parse("allow_clients", Path("~/clients")) == Path.home() / "clients"


def _domain_of(length: int) -> str:
    labels = ["a" * 63, "b" * 63, "c" * 63]
    return ".".join([*labels, "d" * (length - 3 * 64)])


def test_a_domain_loses_its_final_dot_and_nothing_else() -> None:
    assert parse("dns_domain", "Lab.Example.BOX.") == "Lab.Example.BOX"


def test_a_domain_may_be_253_characters_and_not_one_more() -> None:
    assert parse("dns_domain", _domain_of(253)) == _domain_of(253)
    message = "not a domain name (labels of letters, digits, - and _, dot-separated)"
    assert refusal("dns_domain", _domain_of(254)) == message
    assert refusal("dns_domain", "a..b") == message


@pytest.mark.parametrize("text, address", [("192.0.2.53:1", ("192.0.2.53", 1)), ("ns1:65535", ("ns1", 65535))])
def test_a_dns_server_port_is_1_to_65535(text: str, address: tuple[str, int]) -> None:
    assert settings.dns_server_address(text) == address


@pytest.mark.parametrize(
    "text, message",
    [
        ("192.0.2.53:0", "'0' is not a port (1-65535)"),
        ("192.0.2.53:65536", "'65536' is not a port (1-65535)"),
        ("192.0.2.53:x", "'x' is not a port (1-65535)"),
        ("[2001:db8::53]x", "expected [ADDRESS]:PORT"),
        ("[2001:db8::53]]:53", "expected [ADDRESS]:PORT"),
        ("1.2.3", "'1.2.3' is not an IP address or host name"),
    ],
)
def test_a_dns_server_that_cannot_be_used_says_why(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        settings.dns_server_address(text)
    assert str(info.value) == message


def test_effective_settings_are_what_check_config_prints() -> None:
    config = Config(state_file=Path("/s.json"), name="box", mdns_interfaces=("127.0.0.1",), dns_domain="example.org")
    assert config.effective() == {
        "bind": "*",
        "port": 7464,
        "state_file": "/s.json",
        "sync": "periodic",
        "name": "box",
        "mdns": True,
        "mdns_backend": "auto",
        "mdns_interfaces": ["127.0.0.1"],
        "log_level": "info",
        "curve": False,
        "allow_clients": None,
        "dns_domain": "example.org",
        "dns_server": None,
        "dns_key": None,
        "metrics": None,
        "mesh": False,
        "mesh_interval": 10.0,
        "mesh_peers": 64,
        "config_file": None,
        "origins": {},
    }


def test_the_effective_name_is_the_host_name_when_none_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    monkeypatch.setattr(socket, "gethostname", lambda: "rack-7.example.org")
    assert Config().effective()["name"] == "rack-7"


def test_a_new_setting_is_one_more_field() -> None:
    """A field made by ``setting()`` is all a setting needs: its flag, its variable, the
    default --help shows, and whether a reload applies it all follow from it."""

    @dataclass(frozen=True)
    class Demo:
        colour: str = settings.setting("red", str.lower, "Paint it.")
        loud: bool = settings.setting(
            False, bool, "Shout.", shown_default="quietly", reloadable=True, flag="--shout", metavar="YES"
        )
        plain: int = 0  # not a setting

    assert Demo() == Demo("red", False, 0)
    colour, loud = settings.settings_of(Demo)
    assert colour == Setting("colour", "red", str.lower, "Paint it.")
    assert loud == Setting("loud", False, bool, "Shout.", "quietly", True, "--shout", "YES")
    assert (colour.flag, colour.env, colour.help_default) == ("--colour", "PINGD_COLOUR", "red")
    assert (loud.flag, loud.env, loud.help_default) == ("--shout", "PINGD_LOUD", "quietly")


@pytest.mark.parametrize(
    "value, metrics",
    [
        ("127.0.0.1:7465", "127.0.0.1:7465"),
        (" 0.0.0.0:0 ", "0.0.0.0:0"),
        ("[::1]:7465", "[::1]:7465"),
        ("[0:0::1]:65535", "[::1]:65535"),
        ("*:7465", "*:7465"),
    ],
)
def test_metrics_are_an_address_and_a_port(value: str, metrics: str) -> None:
    assert parse("metrics", value) == metrics


@pytest.mark.parametrize(
    "value, message",
    [
        ("127.0.0.1", "expected ADDRESS:PORT, such as 127.0.0.1:7465 ([::1]:PORT, *:PORT)"),
        (":7465", "expected ADDRESS:PORT, such as 127.0.0.1:7465 ([::1]:PORT, *:PORT)"),
        ("::1:7465", "write an IPv6 address in brackets: [::1]:PORT"),
        ("[::1:7465", "write an IPv6 address in brackets: [::1]:PORT"),
        ("::1]:7465", "write an IPv6 address in brackets: [::1]:PORT"),
        ("localhost:7465", "'localhost' is not an IP address (or * for every interface)"),
        ("X127.0.0.1X:7465", "'X127.0.0.1X' is not an IP address (or * for every interface)"),
        ("[127.0.0.300]:7465", "'[127.0.0.300]' is not an IP address (or * for every interface)"),
        ("127.0.0.1:65536", "'65536' is not a port (0-65535; 0 picks a free one)"),
        ("127.0.0.1:-1", "'-1' is not a port (0-65535; 0 picks a free one)"),
        ("127.0.0.1:", "'' is not a port (0-65535; 0 picks a free one)"),
        ("127.0.0.1:７４６５", "'７４６５' is not a port (0-65535; 0 picks a free one)"),  # full-width digits
        (7465, 'expected ADDRESS:PORT in quotes, such as "127.0.0.1:7465"'),
        ("  ", "expected a non-empty string"),
    ],
)
def test_metrics_that_cannot_be_served_say_why(value: Any, message: str) -> None:
    assert refusal("metrics", value) == message


def test_metrics_are_off_by_default_and_their_address_is_read_from_the_setting() -> None:
    assert Config().metrics is None and Config().metrics_address is None
    assert Config(metrics="[::1]:7465").metrics_address == ("::1", 7465)
    assert Config(metrics="*:0").metrics_address == ("*", 0)
    assert BY_KEY["metrics"].help_default == "off" and not BY_KEY["metrics"].reloadable
