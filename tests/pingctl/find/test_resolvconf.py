"""The resolver's settings as the C library reads them: name servers and the search list."""

from pingctl.find import resolvconf
from pingctl.find.resolvconf import ResolverSettings

CONF = """# generated
nameserver 192.0.2.1
nameserver fe80::1%eth0
nameserver not-an-address
domain old.example
search corp.example lab.example.
options ndots:2
"""


def test_nameservers_in_order_and_the_last_search_line():
    assert resolvconf.parse(CONF, {}, "host") == ResolverSettings(
        ("192.0.2.1", "fe80::1"), ("corp.example", "lab.example")
    )


def test_localdomain_replaces_the_search_list_and_empty_means_none():
    assert resolvconf.parse(CONF, {"LOCALDOMAIN": "a.example b.example"}, "h").search == ("a.example", "b.example")
    assert resolvconf.parse(CONF, {"LOCALDOMAIN": ""}, "h").search == ()


def test_without_search_lines_the_host_names_domain_and_the_default_server():
    assert resolvconf.parse("", {}, "box.site.example") == ResolverSettings(("127.0.0.1",), ("site.example",))
    assert resolvconf.parse("", {}, "box").search == ()


def test_an_unreadable_file_is_no_settings(tmp_path):
    settings = resolvconf.read({"LOCALDOMAIN": ""}, tmp_path / "missing")
    assert settings == ResolverSettings(("127.0.0.1",), ())
