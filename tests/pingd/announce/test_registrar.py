"""The registrar against a scripted DNS server on loopback: each outcome, one log line each.

The real server (BIND, in namespaces) is in tests/integration/test_dns.py; here a few lines
of dnspython answer what each test scripts, so renames, take-overs and failures are exact.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable

import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import dns.rrset
import pytest

from pingd.announce import dnssd, registrar
from pingd.announce.announcement import Announcement
from pingd.announce.registrar import DnsRegistrar
from tests.support.processes import wait_for
from tests.support.scripted_dns import ScriptedDns

DOMAIN = dnssd.domain_name("example.org")
OURS = "pingd-n1.example.org."


class ScriptedRegistry:
    """Scripted answers for the registrar: SOA questions get ``soa`` (example.org's SOA by
    default), SRV questions ``srv`` (class, target) records (``srv_target``'s SRV if given), and
    updates the next rcode of ``rcodes`` (then NOERROR). While ``silent``, nothing is answered,
    while ``mute_updates`` no update is (``ignored`` counts what was not)."""

    def __init__(
        self,
        rcodes: list[str],
        srv_target: str | None = None,
        *,
        srv: list[tuple[str, str]] | None = None,
        soa: list[dns.rrset.RRset] | None = None,
    ) -> None:
        self.rcodes = rcodes
        self.srv = srv if srv is not None else [("IN", srv_target)] if srv_target else []
        self.soa = soa if soa is not None else [soa_rrset()]
        self.silent = self.mute_updates = False
        self.ignored = 0
        self.on_update: Callable[[dns.message.Message], None] = lambda update: None
        self.updates: list[dns.message.Message] = []
        self.questions: list[tuple[str, str]] = []
        self.server = ScriptedDns(self.answer)
        self.port = self.server.port

    def answer(self, message: dns.message.Message) -> list[bytes]:
        if self.silent:
            self.ignored += 1
            return []
        response = dns.message.make_response(message)
        if message.opcode() == 5:
            self.updates.append(message)
            self.on_update(message)
            if self.mute_updates:
                self.ignored += 1
                return []
            response.set_rcode(dns.rcode.from_text(self.rcodes.pop(0) if self.rcodes else "NOERROR"))
        else:
            question = message.question[0]
            self.questions.append((question.name.to_text(), dns.rdatatype.to_text(question.rdtype)))
            if question.rdtype == dns.rdatatype.SOA:
                response.answer.extend(self.soa)
            elif question.rdtype == dns.rdatatype.SRV:
                response.answer.extend(srv_rrset(question.name, klass, target) for klass, target in self.srv)
        return [response.to_wire()]

    def registers(self) -> list[str]:
        """The instance names the updates so far registered (refreshes and removals left out:
        they require this daemon's SRV, not its absence)."""
        return [
            # The instance's SRV (the service's own name holds every daemon's SRV as well).
            next(
                r.name.labels[0].decode()
                for r in u.update
                if r.rdtype == dns.rdatatype.SRV and not r.name.labels[0].startswith(b"_")
            )
            for u in self.updates
            if not u.prerequisite or u.prerequisite[0].deleting == dns.rdataclass.NONE
        ]

    def close(self) -> None:
        self.server.close()


def soa_rrset(owner: str = "example.org.", klass: str = "IN", mname: str = "ns.example.org.") -> dns.rrset.RRset:
    return dns.rrset.from_text(owner, 60, klass, "SOA", f"{mname} admin.example.org. 1 60 60 600 60")


def srv_rrset(owner: dns.name.Name, klass: str, target: str) -> dns.rrset.RRset:
    """An SRV of any class. dnspython knows SRV in class IN only: in another it is generic
    data, which is what the registrar's parser makes of it too."""
    rdata = dns.rdata.from_text("IN", "SRV", f"0 0 7464 {target}")
    generic = dns.rdata.GenericRdata(dns.rdataclass.from_text(klass), dns.rdatatype.SRV, rdata.to_wire())
    return dns.rrset.from_rdata(owner, 60, generic if klass != "IN" else rdata)


@pytest.fixture
def scripted():
    made: list[ScriptedRegistry] = []

    def make(rcodes: list[str], srv_target: str | None = None, **kwargs) -> ScriptedRegistry:
        made.append(ScriptedRegistry(rcodes, srv_target, **kwargs))
        return made[-1]

    yield make
    for server in made:
        server.close()


@pytest.fixture
def started():
    registrars: list[DnsRegistrar] = []

    def start(port: int, timeout: float = 1.0, refresh: float = 60, server_given: bool = True) -> DnsRegistrar:
        records = dnssd.records_for(Announcement("box", 7464, ("192.0.2.10",), "n1"), DOMAIN, ["192.0.2.10"])
        server = ("127.0.0.1", port) if server_given else None
        r = DnsRegistrar(records, server, None, refresh=refresh, timeout=timeout)
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


# -- hostile answers (each of these killed the thread once) ----------------------------------


@pytest.mark.parametrize("klass", ["CH", "HS"])
def test_an_srv_of_another_class_is_no_holder(scripted, started, caplog, klass):
    """Holds off: YXRRSET to the registration, then an SRV of class CH or HS in the answer to
    the holder query. Its data is generic (no ``target``): reading it killed the thread with
    an AttributeError, and the status said "registering" for ever. Only class IN counts."""
    caplog.set_level(logging.INFO, "pingd")
    server = scripted(["YXRRSET"], srv=[(klass, OURS)])
    r = started(server.port)
    until(lambda: r.registered, "registration under another name")
    assert r.describe() == "DNS: registered as 'box-2' in example.org"  # no IN SRV: not known to be ours
    assert "DNS: 'box' in example.org is held by another daemon" in dns_lines(caplog)


def test_an_srv_of_class_in_is_read_past_one_of_another_class(scripted, started):
    """Holds off: a CH SRV put first in the answer, before the real (IN) one that shows the
    name is this daemon's own: the CH one is skipped, not read, and the name taken back."""
    server = scripted(["YXRRSET"], srv=[("CH", "pingd-other.example.org."), ("IN", OURS)])
    r = started(server.port)
    until(lambda: r.registered, "registration")
    assert r.describe() == "DNS: registered as 'box' in example.org"
    assert server.registers() == ["box", "box"] and server.updates[-1].prerequisite == []  # taken back


def test_an_soa_of_another_class_is_not_the_zone(scripted, started):
    """Holds off: an SOA of class CH in the answer, naming a zone above the domain ("org."):
    the zone is the IN SOA's (in the authority section here), and the updates go to it."""
    server = scripted([], soa=[soa_rrset("org.", "CH")])
    server.soa.append(soa_rrset())  # after the CH one, so that order alone does not decide
    r = started(server.port)
    until(lambda: r.registered, "registration")
    assert {u.question[0].name.to_text() for u in server.updates} == {"example.org."}


@pytest.fixture
def resolver_at(monkeypatch):
    """The system's resolver, as the registrar asks it without --dns-server, pointed at a
    scripted server on loopback."""

    def point(port: int) -> None:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.port = port
        resolver.nameservers = ["127.0.0.1"]
        monkeypatch.setattr(dns.resolver, "default_resolver", resolver)

    return point


LONG_LABEL = "\\255" * 63  # 63 octets: legal in DNS, 252 characters as text, too long for IDNA


@pytest.mark.parametrize(
    "mname, reason",
    [
        (".", "the zone's SOA names no primary server; give --dns-server"),
        (f"{LONG_LABEL}.example.org.", f"cannot resolve DNS server '{LONG_LABEL}.example.org': not a host name"),
    ],
)
def test_an_soa_without_a_usable_primary_is_one_line_and_a_retry(
    scripted, started, resolver_at, caplog, monkeypatch, mname, reason
):
    """Holds off: without --dns-server, an SOA whose MNAME is "." (legal: some zones name no
    primary) or has a label the IDNA codec refuses. Its UnicodeError escaped ``_address_of``
    (which caught only OSError): two tracebacks, a dead thread, "registering" for ever."""
    monkeypatch.setattr(registrar, "FIRST_RETRY", 0.05)
    caplog.set_level(logging.INFO, "pingd")
    server = scripted([], soa=[soa_rrset(mname=mname)])
    resolver_at(server.port)
    r = started(server.port, server_given=False)
    until(lambda: server.questions.count(("example.org.", "SOA")) >= 6, "three attempts (two SOA questions each)")
    assert r.describe() == f"DNS: not registered in example.org ({reason})"
    assert dns_lines(caplog) == [f"DNS: not registered in example.org: {reason}; serving on, and retrying"]


# -- no failure ends the thread --------------------------------------------------------------


@pytest.mark.parametrize("method", ["_find_zone", "_register"])
def test_an_unexpected_exception_is_one_line_and_the_next_attempt_registers(
    scripted, started, caplog, monkeypatch, method
):
    """Holds off: any exception nothing foresaw (a bug, an answer no code expected), raised
    once in the thread: one line, a status that says why, and the retry that registers. It
    used to end the thread, with a traceback, leaving "registering" for ever."""
    monkeypatch.setattr(registrar, "FIRST_RETRY", 0.05)
    caplog.set_level(logging.INFO, "pingd")
    original = getattr(DnsRegistrar, method)
    states: list[str] = []

    def flaky(self):
        states.append(self.describe())
        if len(states) == 1:
            raise RuntimeError("injected")
        return original(self)

    monkeypatch.setattr(DnsRegistrar, method, flaky)
    server = scripted([])
    r = started(server.port)
    until(lambda: r.registered, "registration at the next attempt")
    reason = "unexpected RuntimeError: injected"
    assert states[1] == f"DNS: not registered in example.org ({reason})"  # as the retry began
    lines = dns_lines(caplog)
    assert lines[0] == f"DNS: not registered in example.org: {reason}; serving on, and retrying"
    assert len(lines) == 2 and lines[1].startswith("DNS: registered 'box' in example.org")


def test_a_thread_that_cannot_start_is_a_status_not_a_crash(scripted, caplog, monkeypatch):
    """Holds off: no thread to be had (a TasksMax reached) raised out of start(), into the
    daemon's loop."""
    caplog.set_level(logging.INFO, "pingd")
    records = dnssd.records_for(Announcement("box", 7464, ("192.0.2.10",), "n1"), DOMAIN, ["192.0.2.10"])
    r = DnsRegistrar(records, ("127.0.0.1", scripted([]).port), None)

    def refuse() -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(r._thread, "start", refuse)
    r.start()
    assert r.describe() == "DNS: not registered in example.org (cannot start its thread: can't start new thread)"
    assert len(dns_lines(caplog)) == 1
    r.close()


# -- stopping is bounded ---------------------------------------------------------------------


def timed_close(r: DnsRegistrar) -> float:
    began = time.monotonic()
    r.close()
    return time.monotonic() - began


def test_close_against_a_server_gone_silent_is_bounded(scripted, started, caplog):
    """Holds off: a server that stops answering once pingd is registered. close() mid-refresh
    waited out the refresh (2 s), then the removal (2 s): ~4 s, and with renames in flight
    up to 3 × 2 s + 2 s, against the unit's TimeoutStopSec=10s. Now the refresh is called off
    and only the removal waits: at most JOIN + TIMEOUT (2.5 s)."""
    caplog.set_level(logging.INFO, "pingd")
    server = scripted([])
    r = started(server.port, timeout=registrar.TIMEOUT, refresh=0.05)
    until(lambda: r.registered, "registration")
    server.silent = True
    until(lambda: server.ignored >= 1, "a refresh the server leaves unanswered")
    took = timed_close(r)
    assert took < registrar.JOIN + registrar.TIMEOUT < 3.0, f"close() took {took:.2f} s"
    assert server.ignored >= 2  # the removal was sent all the same
    assert dns_lines(caplog)[-1] == (
        f"DNS: could not remove 'box' from example.org: no answer from 127.0.0.1:{server.port} within 2 s"
    )


def test_close_mid_exchange_before_registering_does_not_wait_for_the_timeout(scripted, started):
    """Holds off: a silent server makes every exchange wait its whole timeout; close() waited
    for the exchange in progress. Now it is called off, and nothing was registered to remove."""
    server = scripted([])
    server.silent = True
    r = started(server.port, timeout=registrar.TIMEOUT)
    until(lambda: server.ignored >= 1, "the first question, unanswered")
    took = timed_close(r)
    assert took < registrar.JOIN, f"close() took {took:.2f} s"
    assert server.ignored == 1  # no removal: nothing was sent to register


def test_close_mid_registration_removes_what_may_have_been_added(scripted, started, caplog):
    """Holds off: a stop while the registration's update is unanswered (the server may have
    applied it). The thread is called off mid-exchange, so the goodbye removes what that
    update added, on condition that the name is still this daemon's."""
    caplog.set_level(logging.INFO, "pingd")
    server = scripted([])
    server.mute_updates = True  # the update arrives; its answer never does
    r = started(server.port, timeout=0.5)
    until(lambda: server.updates, "the registration's update")
    took = timed_close(r)
    assert took < registrar.JOIN + 0.5, f"close() took {took:.2f} s"
    assert server.registers() == ["box"] and len(server.updates) == 2  # the registration, then the removal
    [prerequisite] = server.updates[1].prerequisite  # only if the name is this daemon's
    assert prerequisite.name == server.updates[0].prerequisite[0].name and [p.to_text() for p in prerequisite] == [
        f"0 0 7464 {OURS}"
    ]
    assert dns_lines(caplog)[-1].startswith("DNS: could not remove 'box' from example.org: no answer")


def test_a_stop_between_exchanges_ends_a_run_of_renames(scripted, started):
    """Holds off: a register that renames makes up to 20 exchanges, and the stop flag was
    looked at only before the whole of it. The flag set (as close() sets it, first) just as
    the third name's answer comes back: no fourth name is tried."""
    server = scripted(["YXRRSET"] * 20, srv_target="pingd-other.example.org.")
    r = started(server.port)

    def stop_at_the_third(update: dns.message.Message) -> None:
        if len(server.updates) == 3:
            r._stop.set()

    server.on_update = stop_at_the_third
    until(lambda: len(server.updates) >= 3, "three names tried")
    r.close()
    assert server.registers() == ["box", "box-2", "box-3"]
    assert not r.registered and "registering" in r.describe()  # stopped, never failed
