"""The DNS-SD records in a domain, their zone-file lines and the RFC 2136 updates (pure)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import pytest

from pingd.announce import dnssd
from pingd.announce.announcement import Announcement
from pingd.announce.dnssd import DnsSettingError
from pingd.errors import EXIT_SETTINGS

DOMAIN = dnssd.domain_name("example.org")
ANNOUNCED = Announcement("box", 7464, ("127.0.0.1", "192.0.2.10", "fe80::1", "2001:db8::10"), "9f2c41d07be35a18")


def records(name: str = "box"):
    a = Announcement(name, ANNOUNCED.port, ANNOUNCED.listening, ANNOUNCED.node_id)
    return dnssd.records_for(a, DOMAIN, dnssd.routable_addresses(a.listening))


def test_zone_lines_are_the_dns_sd_records():
    assert dnssd.zone_lines(records()) == [
        "_services._dns-sd._udp.example.org. 60 IN PTR  _pingd._tcp.example.org.",
        "_pingd._tcp.example.org.            60 IN PTR  box._pingd._tcp.example.org.",
        # For clients of plain SRV records (Prometheus' dns_sd_configs), which follow no PTR.
        "_pingd._tcp.example.org.            60 IN SRV  0 0 7464 pingd-9f2c41d07be35a18.example.org.",
        "box._pingd._tcp.example.org.        60 IN SRV  0 0 7464 pingd-9f2c41d07be35a18.example.org.",
        'box._pingd._tcp.example.org.        60 IN TXT  "txtvers=1" "pv=1" "ver=0.1.0" "id=9f2c41d07be35a18"',
        "pingd-9f2c41d07be35a18.example.org. 60 IN A    192.0.2.10",
        "pingd-9f2c41d07be35a18.example.org. 60 IN AAAA 2001:db8::10",
    ]


def test_the_service_level_srv_is_added_beside_the_others_and_only_its_own_removed():
    srv = "0 0 7464 pingd-9f2c41d07be35a18.example.org."
    added = dnssd.register_update(DOMAIN, records(), take_over=False)
    at_service = [r for r in added.update if r.name.to_text() == "_pingd._tcp.example.org." and r.rdtype == 33]
    assert [(r.deleting, [x.to_text() for x in r]) for r in at_service] == [(None, [srv])]  # added, not replaced
    removed = dnssd.remove_update(DOMAIN, records())
    at_service = [r for r in removed.update if r.name.to_text() == "_pingd._tcp.example.org." and r.rdtype == 33]
    assert [(r.deleting, [x.to_text() for x in r]) for r in at_service] == [(dns.rdataclass.NONE, [srv])]


def test_an_instance_name_is_any_text_escaped_in_one_label():
    r = records('Lab "B" box.2')
    assert r.instance.labels[0] == b'Lab "B" box.2' and len(r.instance.labels) == 6  # with the root
    assert dnssd.zone_lines(r)[1].endswith('PTR  Lab\\032\\"B\\"\\032box\\.2._pingd._tcp.example.org.')


def test_loopback_and_link_local_stay_out_unless_nothing_else_is_left():
    assert dnssd.routable_addresses(("127.0.0.1", "fe80::1%eth0", "10.0.0.2")) == ["10.0.0.2"]
    assert dnssd.routable_addresses(("127.0.0.1",)) == ["127.0.0.1"]


def test_register_asks_that_the_name_be_free_unless_taking_back_our_own():
    first = dnssd.register_update(DOMAIN, records(), take_over=False)
    [prereq] = first.prerequisite
    assert (prereq.name.to_text(), prereq.rdtype, prereq.rdclass) == ("box._pingd._tcp.example.org.", 33, 254)  # NONE
    assert dnssd.register_update(DOMAIN, records(), take_over=True).prerequisite == []
    added = {(r.name.to_text(), r.rdtype) for r in first.update if r.ttl == dnssd.TTL}
    assert ("_pingd._tcp.example.org.", 12) in added and ("pingd-9f2c41d07be35a18.example.org.", 1) in added


def test_refresh_and_remove_require_our_exact_srv_with_ttl_zero():
    for update in (dnssd.refresh_update(DOMAIN, records()), dnssd.remove_update(DOMAIN, records())):
        [prereq] = update.prerequisite
        assert prereq.ttl == 0 and prereq.rdtype == 33
        assert [r.to_text() for r in prereq] == ["0 0 7464 pingd-9f2c41d07be35a18.example.org."]
    removed = dnssd.remove_update(DOMAIN, records())
    owners = {r.name.to_text() for r in removed.update}
    assert "_services._dns-sd._udp.example.org." not in owners  # other daemons share it


def test_updates_survive_the_wire():
    update = dnssd.register_update(DOMAIN, records(), take_over=False)
    again = dns.message.from_wire(update.to_wire())
    assert again.opcode() == 5 and again.rcode() == dns.rcode.NOERROR


KEY = 'key "pingd-key" {\n\talgorithm hmac-sha256;\n\tsecret "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0";\n};\n'


def test_a_bind_key_file_is_read():
    key = dnssd.parse_key("# made by tsig-keygen\n" + KEY, "f")
    assert key.name == dns.name.from_text("pingd-key") and key.secret == b"secretsecretsecretsecret"
    assert str(key.algorithm).startswith("hmac-sha256")


def test_a_secret_holding_two_slashes_is_no_comment():
    """About one tsig-keygen secret in a hundred has "//" in its base64: it is not cut there."""
    import base64

    secret = base64.b64decode("ab//cd+/9w==")
    text = '/* made by\n tsig-keygen */ key "k" { algorithm hmac-sha256; // the default\n secret "ab//cd+/9w=="; };\n'
    assert dnssd.parse_key(text, "f").secret == secret


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "no key"),
        ('key "k" { secret "c2VjcmV0"; };', "needs both an algorithm and a secret"),
        (KEY.replace("hmac-sha256", "rot13"), "unknown algorithm 'rot13'"),
        (KEY.replace("c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0", "not base64!"), "key 'pingd-key'"),
    ],
)
def test_a_bad_key_file_says_what_is_wrong(text, message):
    with pytest.raises(DnsSettingError, match=message):
        dnssd.parse_key(text, "DNS key file f")


def test_key_file_errors_name_the_file(tmp_path):
    with pytest.raises(DnsSettingError, match=f"DNS key file {tmp_path / 'none'}: No such file"):
        dnssd.read_key(tmp_path / "none")
    binary = tmp_path / "bin"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(DnsSettingError, match="not text"):
        dnssd.read_key(binary)


# -- key files that are not files ------------------------------------------------------------


def read_key_within(path: Path, seconds: float = 5.0) -> DnsSettingError:
    """The error ``read_key`` raises for ``path``, which must come within ``seconds`` (a read
    that blocks fails the test instead of hanging it)."""
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(dnssd.read_key, path)
        try:
            with pytest.raises(DnsSettingError) as raised:
                future.result(timeout=seconds)
        finally:
            if path.is_fifo() and not future.done():  # unblock the reader a regression left waiting
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
    return raised.value


def test_a_fifo_as_key_file_is_refused_at_once(tmp_path):
    """Holds off: --dns-key naming a FIFO. Opening it waited for a writer that never came:
    pingd hung before its first log line."""
    fifo = tmp_path / "dns.key"
    os.mkfifo(fifo)
    assert str(read_key_within(fifo)) == f"DNS key file {fifo}: is a FIFO, not a regular file"


def test_a_directory_as_key_file_is_refused(tmp_path):
    """Holds off: --dns-key naming a directory: one line that says so."""
    assert str(read_key_within(tmp_path)) == f"DNS key file {tmp_path}: is a directory, not a regular file"


def test_a_key_file_larger_than_any_key_is_refused_unread(tmp_path):
    """Holds off: a key file far larger than a key (a BIND key file is under 1 KiB): refused
    past KEY_FILE_LIMIT bytes, never read whole."""
    big = tmp_path / "dns.key"
    big.write_text(KEY + "#" * dnssd.KEY_FILE_LIMIT)
    assert str(read_key_within(big)) == f"DNS key file {big}: is larger than {dnssd.KEY_FILE_LIMIT} bytes"
    exact = tmp_path / "exact.key"
    exact.write_text(KEY + "#" * (dnssd.KEY_FILE_LIMIT - len(KEY)))  # the limit itself is allowed
    assert dnssd.read_key(exact).name == dns.name.from_text("pingd-key")


@pytest.mark.parametrize(
    "make, what",
    [
        (lambda tmp: (os.mkfifo(tmp / "dns.key"), tmp / "dns.key")[1], "is a FIFO, not a regular file"),
        (lambda tmp: Path("/dev/zero"), "is a character device, not a regular file"),
    ],
    ids=["fifo", "dev-zero"],
)
def test_pingd_with_an_unusable_key_file_stops_at_once_in_one_line(spawn_daemon, tmp_path, make, what):
    """Holds off, in the real program: a FIFO as --dns-key hung pingd before its first log
    line; /dev/zero grew its memory at ~280 MB/s and it never served. Now it exits with the
    settings' exit code, one line said. (An address-space limit keeps a regression from
    eating the host's memory: it would fail with a MemoryError instead.)"""
    key = make(tmp_path)
    daemon = spawn_daemon(
        "--dns-domain", "example.org", "--dns-key", str(key),
        wait_ready=False, prefix=("prlimit", f"--as={2 << 30}", "--"),
    )  # fmt: skip
    assert daemon.wait(timeout=15) == EXIT_SETTINGS, daemon.output  # a hang fails here, at the deadline
    [line] = daemon.lines
    assert line.endswith(f"ERROR DNS key file {key}: {what}")
