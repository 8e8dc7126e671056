"""The registrar against a scripted DNS server on loopback: each outcome, one log line each.

The real server (BIND, in namespaces) is in tests/integration/test_dns.py; here a few lines
of dnspython answer what each test scripts, so renames, take-overs and failures are exact.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from pingd import dnssd, registrar
from pingd.announce import Announcement
from pingd.registrar import DnsRegistrar
from tests.support.processes import wait_for
from tests.support.scripted_dns import ScriptedDns

DOMAIN = dnssd.domain_name("example.org")
OURS = "pingd-n1.example.org."


class ScriptedRegistry:
    """Scripted answers for the registrar: SOA questions get example.org's SOA, SRV questions
    ``srv_target``'s SRV if set, and updates the next rcode of ``rcodes`` (then NOERROR)."""

    def __init__(self, rcodes: list[str], srv_target: str | None = None) -> None:
        self.rcodes, self.srv_target = rcodes, srv_target
        self.updates: list[dns.message.Message] = []
        self.server = ScriptedDns(self.answer)
        self.port = self.server.port

    def answer(self, message: dns.message.Message) -> list[bytes]:
        response = dns.message.make_response(message)
        if message.opcode() == 5:
            self.updates.append(message)
            response.set_rcode(dns.rcode.from_text(self.rcodes.pop(0) if self.rcodes else "NOERROR"))
        else:
            question = message.question[0]
            if question.rdtype == dns.rdatatype.SOA:
                text = "ns.example.org. admin.example.org. 1 60 60 600 60"
                response.answer.append(dns.rrset.from_text("example.org.", 60, "IN", "SOA", text))
            elif question.rdtype == dns.rdatatype.SRV and self.srv_target:
                text = f"0 0 7464 {self.srv_target}"
                response.answer.append(dns.rrset.from_text(question.name, 60, "IN", "SRV", text))
        return [response.to_wire()]

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def scripted():
    made: list[ScriptedRegistry] = []

    def make(rcodes: list[str], srv_target: str | None = None) -> ScriptedRegistry:
        made.append(ScriptedRegistry(rcodes, srv_target))
        return made[-1]

    yield make
    for server in made:
        server.close()


@pytest.fixture
def started():
    registrars: list[DnsRegistrar] = []

    def start(port: int, timeout: float = 1.0, refresh: float = 60) -> DnsRegistrar:
        records = dnssd.records_for(Announcement("box", 7464, ("192.0.2.10",), "n1"), DOMAIN, ["192.0.2.10"])
        r = DnsRegistrar(records, ("127.0.0.1", port), None, refresh=refresh, timeout=timeout)
        registrars.append(r)
        r.start()
        return r

    yield start
    for r in registrars:
        r.close()


def dns_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("DNS: ")]


def until(condition: Callable[[], object], what: str) -> None:
    wait_for(condition, 10, what)


def test_registers_then_removes_on_close(scripted, started, caplog):
    caplog.set_level(logging.INFO, "pingd")
    server = scripted([])
    r = started(server.port)
    until(lambda: r.registered, "registration")
    assert r.describe() == "DNS: registered as 'box' in example.org"
    r.close()
    remove = server.updates[-1]
    assert [p.to_text() for p in remove.prerequisite[0]] == [f"0 0 7464 {OURS}"]  # only if still ours
    assert dns_lines(caplog) == [
        f"DNS: registered 'box' in example.org (192.0.2.10, port 7464, via 127.0.0.1:{server.port}, zone example.org)",
        "DNS: removed 'box' from example.org",
    ]


def test_a_refusal_is_one_line_and_the_retry_repeats_nothing(scripted, started, caplog, monkeypatch):
    monkeypatch.setattr(registrar, "FIRST_RETRY", 0.05)
    caplog.set_level(logging.INFO, "pingd")
    server = scripted(["REFUSED"] * 3)
    r = started(server.port)
    until(lambda: r.registered, "registration after three refusals")
    lines = dns_lines(caplog)
    assert len(lines) == 2 and "REFUSED" in lines[0] and "unsigned updates (give --dns-key)" in lines[0]
    assert lines[0].endswith("; serving on, and retrying") and lines[1].startswith("DNS: registered 'box'")


def test_a_name_held_by_another_daemon_is_renamed(scripted, started, caplog):
    caplog.set_level(logging.INFO, "pingd")
    server = scripted(["YXRRSET"], srv_target="pingd-other.example.org.")
    r = started(server.port)
    until(lambda: r.registered, "registration")
    assert r.describe() == "DNS: registered as 'box-2' in example.org"
    assert "DNS: 'box' is taken in example.org; registered as 'box-2'" in dns_lines(caplog)[-1]
    assert server.updates[-1].prerequisite[0].name.to_text() == "box-2._pingd._tcp.example.org."


def test_our_own_name_from_an_earlier_run_is_taken_back(scripted, started):
    server = scripted(["YXRRSET"], srv_target=OURS)
    r = started(server.port)
    until(lambda: r.registered, "registration")
    assert r.describe() == "DNS: registered as 'box' in example.org"
    assert server.updates[-1].prerequisite == []  # replaced, not asked to be free


def test_no_server_is_a_line_and_a_status_not_a_stop(started, caplog):
    caplog.set_level(logging.INFO, "pingd")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))  # bound, never answering
        port = silent.getsockname()[1]
        r = started(port, timeout=0.2)
        until(lambda: "not registered" in r.describe(), "the failure")
    assert f"no answer from 127.0.0.1:{port} within 0.2 s" in r.describe()
    assert len(dns_lines(caplog)) == 1


def test_records_gone_from_the_zone_are_put_back_at_the_next_refresh(scripted, started, caplog):
    caplog.set_level(logging.INFO, "pingd")
    server = scripted(["NOERROR", "NOERROR", "NXRRSET"])  # register, a quiet refresh, then gone
    r = started(server.port, refresh=0.05)
    until(lambda: len(server.updates) >= 5, "the registration, two refreshes and a new registration")
    kinds = ["refresh" if u.prerequisite and len(u.prerequisite[0]) else "register" for u in server.updates]
    assert kinds[:4] == ["register", "refresh", "refresh", "register"]
    lines = dns_lines(caplog)
    assert lines[1] == "DNS: 'box' was no longer in example.org; registering it again"
    assert lines[2].startswith("DNS: registered 'box' in example.org") and r.registered
