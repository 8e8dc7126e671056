"""Where pingctl looks: the race between mDNS and the DNS domains, in-process.

mDNS (``pingctl.find.mdns``) and DNS (``pingctl.find.widearea``) are replaced by fakes that
answer, fail or hold back when told, so each outcome of the race is set up exactly, with no
network, no zeroconf and no name server. What crosses real networks is in
tests/integration/test_discovery.py and test_dns.py.
"""

from __future__ import annotations

import sys
import threading
import time

import pytest

import pingctl.find
from pingctl.errors import PingctlError
from pingctl.find import mdns, resolvconf, search, widearea
from pingctl.find.found import Browsed, Found

#: How long a held-back fake waits at most, so that no test leaves a thread behind for long.
HOLD = 10.0


def found(name: str, node_id: str | None, domain: str = "local", address: str = "192.0.2.1") -> Found:
    return Found(name, f"pingd-{node_id}.{domain}", (address,), 7464, node_id, "0.1.0", "1", domain=domain)


@pytest.fixture
def search_domains(monkeypatch):
    """The resolver's search domains, as pingctl reads them (none unless set)."""

    def use(*domains: str) -> None:
        settings = resolvconf.ResolverSettings(("192.0.2.53",), tuple(domains))
        monkeypatch.setattr(resolvconf, "read", lambda *a, **k: settings)

    use()
    return use


class Fakes:
    """Stand-ins for mdns.find/browse and widearea.suggested_domains/browse: what each is
    asked is recorded; each answers with what the test set, after ``*_gate`` is set."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.mdns_found: tuple[Found, list[Found]] | PingctlError = PingctlError("mDNS: not set up")
        self.mdns_browsed = Browsed([])
        self.mdns_stop: threading.Event | None = None
        self.mdns_started = threading.Event()
        self.suggested: list[str] = []
        self.in_domain: dict[str, Browsed | PingctlError] = {}
        self.dns_gate = threading.Event()
        self.dns_gate.set()
        self.dns_done = threading.Event()

    def mdns_find(self, name, timeout, interfaces=(), stop=None):
        self.calls.append(("mdns.find", name, interfaces))
        self.mdns_stop = stop
        self.mdns_started.set()
        if isinstance(self.mdns_found, PingctlError):
            raise self.mdns_found
        return self.mdns_found

    def mdns_browse(self, timeout, interfaces=()):
        self.calls.append(("mdns.browse", interfaces))
        return self.mdns_browsed

    def suggested_domains(self, search_list, deadline):
        self.calls.append(("widearea.suggested_domains", tuple(search_list)))
        self.dns_gate.wait(HOLD)
        return list(self.suggested)

    def widearea_browse(self, domain, deadline, resolver=None):
        self.calls.append(("widearea.browse", domain))
        try:
            outcome = self.in_domain.get(domain, Browsed([]))
            if isinstance(outcome, PingctlError):
                raise outcome
            return outcome
        finally:
            self.dns_done.set()

    def asked(self, what: str) -> list[tuple]:
        return [c for c in self.calls if c[0] == what]


@pytest.fixture
def fakes(monkeypatch, search_domains):
    f = Fakes()
    monkeypatch.setattr(mdns, "find", f.mdns_find)
    monkeypatch.setattr(mdns, "browse", f.mdns_browse)
    monkeypatch.setattr(widearea, "suggested_domains", f.suggested_domains)
    monkeypatch.setattr(widearea, "browse", f.widearea_browse)
    yield f
    f.dns_gate.set()  # a held-back DNS thread ends now, not HOLD seconds later


# --- a domain given: DNS alone ------------------------------------------------------------------


def test_a_given_domain_is_browsed_in_dns_alone(fakes, search_domains):
    search_domains("corp.example")  # even with search domains, --domain is the only place looked
    there = found("box", "n1", domain="dns.example")
    fakes.in_domain["dns.example"] = Browsed([there])
    assert search.find(None, 2.0, (), "dns.example") == ([there], "DNS")
    assert search.browse(2.0, (), "dns.example") == Browsed([there])
    assert [c[0] for c in fakes.calls] == ["widearea.browse", "widearea.browse"]


@pytest.mark.parametrize(
    "browsed, message",
    [
        (Browsed([]), "no pingd registered in dns.example"),
        (Browsed([], unresolved=2), "did not resolve before the deadline; raise --discovery-timeout"),
        (Browsed([], ignored=["'x': it gives no IP address"]), "ignored a record: 'x': it gives no IP address"),
        (Browsed([found("other", "n2", domain="dns.example")]), "no pingd named 'box' registered"),
    ],
)
def test_a_given_domain_with_nothing_usable_says_why_in_one_line(fakes, browsed, message):
    fakes.in_domain["dns.example"] = browsed
    with pytest.raises(PingctlError, match=message) as info:
        search.find("box" if browsed.found else None, 2.0, (), "dns.example")
    assert "\n" not in str(info.value)
    assert not fakes.asked("mdns.find")


# --- no search domains: plain mDNS, no DNS code ---------------------------------------------------


def test_no_search_domains_take_the_plain_mdns_path_and_load_no_dns_code(fakes, monkeypatch):
    # Importing the DNS side (pingctl.find.widearea, dnspython) now fails: the path must not try.
    monkeypatch.delattr(pingctl.find, "widearea")
    for module in [m for m in sys.modules if m == "dns" or m.startswith("dns.")] + ["pingctl.find.widearea"]:
        monkeypatch.setitem(sys.modules, module, None)
    first, other = found("box", "n1"), found("other", "n2")
    fakes.mdns_found = (first, [other])
    fakes.mdns_browsed = Browsed([first, other])
    assert search.find(None, 2.0, ("127.0.0.1",), None) == ([first, other], "mDNS")
    assert search.browse(2.0, ("127.0.0.1",), None) == Browsed([first, other])
    assert fakes.calls == [("mdns.find", None, ("127.0.0.1",)), ("mdns.browse", ("127.0.0.1",))]
    assert fakes.mdns_stop is None  # nothing to race against


# --- search domains: the race ---------------------------------------------------------------------


def test_dns_answering_within_the_head_start_wins_and_mdns_never_starts(fakes, search_domains):
    search_domains("corp.example")
    fakes.suggested = ["dns.corp.example"]
    there = found("box", "n1", domain="dns.corp.example")
    fakes.in_domain["dns.corp.example"] = Browsed([there])
    assert search.find(None, 2.0, (), None) == ([there], "DNS")
    time.sleep(search.DNS_HEAD_START)  # had it been started late, mDNS would be asked by now
    assert not fakes.asked("mdns.find")
    assert fakes.asked("widearea.suggested_domains") == [("widearea.suggested_domains", ("corp.example",))]


def test_a_name_dns_does_not_have_is_left_to_mdns(fakes, search_domains):
    search_domains("corp.example")
    fakes.suggested = ["dns.corp.example"]
    fakes.in_domain["dns.corp.example"] = Browsed([found("other", "n2", domain="dns.corp.example")])
    here = found("box", "n1")
    fakes.mdns_found = (here, [])
    assert search.find("BOX", 2.0, (), None) == ([here], "mDNS")
    assert fakes.asked("mdns.find") == [("mdns.find", "BOX", ())]


def test_mdns_wins_when_dns_is_slow_and_is_told_to_stop_nothing_else(fakes, search_domains):
    search_domains("corp.example")
    fakes.dns_gate.clear()  # the suggested domains do not answer until released
    fakes.suggested = ["dns.corp.example"]
    fakes.in_domain["dns.corp.example"] = Browsed([found("far", "n9", domain="dns.corp.example")])
    here, other = found("box", "n1"), found("other", "n2")
    fakes.mdns_found = (here, [other])
    started = time.monotonic()
    assert search.find(None, 5.0, ("127.0.0.1",), None) == ([here, other], "mDNS")
    # mDNS was started only once DNS had had its head start, and is stopped now the race is won.
    assert time.monotonic() - started >= search.DNS_HEAD_START
    assert fakes.mdns_stop is not None and fakes.mdns_stop.is_set()
    # DNS answering afterwards changes nothing.
    fakes.dns_gate.set()
    assert fakes.dns_done.wait(HOLD)


@pytest.mark.parametrize("dns_fails", ["at once", "after mDNS", "not before the deadline"])
def test_both_failing_names_the_mdns_failure(fakes, search_domains, dns_fails):
    search_domains("corp.example")
    if dns_fails != "at once":
        fakes.dns_gate.clear()
    if dns_fails == "after mDNS":

        def release_dns_once_mdns_has_failed() -> None:
            if fakes.mdns_started.wait(HOLD):
                time.sleep(0.1)
                fakes.dns_gate.set()

        threading.Thread(target=release_dns_once_mdns_has_failed, daemon=True).start()
    fakes.suggested = []  # the network suggests no browse domain: DNS finds nothing
    fakes.mdns_found = PingctlError("no pingd found by mDNS within 0.5 s; mDNS may be blocked on this network")
    with pytest.raises(PingctlError, match="^no pingd found by mDNS within 0.5 s; mDNS may be blocked"):
        search.find(None, 0.5, (), None)


def test_a_domain_that_fails_to_browse_is_passed_over_for_the_next(fakes, search_domains):
    search_domains("corp.example")
    fakes.suggested = ["broken.example", "dns.corp.example"]
    fakes.in_domain["broken.example"] = PingctlError("no name server answered")
    there = found("box", "n1", domain="dns.corp.example")
    fakes.in_domain["dns.corp.example"] = Browsed([there])
    assert search.find(None, 2.0, (), None) == ([there], "DNS")


# --- browse: both ways, merged --------------------------------------------------------------------


def test_browse_merges_mdns_and_dns_by_node_id_keeping_what_mdns_found(fakes, search_domains):
    search_domains("corp.example", "lab.example")
    fakes.suggested = ["dns.corp.example"]
    near_a, near_b = found("alpha", "n1"), found("Bravo", "n2")
    far_a = found("alpha", "n1", domain="dns.corp.example", address="198.51.100.1")  # the same daemon
    far_c = found("charlie", "n3", domain="dns.corp.example")
    far_anon = found("delta", None, domain="dns.corp.example")  # no node id: never merged away
    fakes.mdns_browsed = Browsed([near_b, near_a], ignored=["near: bad"], unresolved=1)
    fakes.in_domain["dns.corp.example"] = Browsed([far_a, far_c, far_anon], ignored=["far: bad"], unresolved=2)
    seen = search.browse(1.0, ("127.0.0.1",), None)
    assert seen.found == [near_a, near_b, far_c, far_anon]  # by name, whatever the case
    assert (seen.ignored, seen.unresolved) == (["near: bad", "far: bad"], 3)
    assert fakes.asked("widearea.suggested_domains") == [
        ("widearea.suggested_domains", ("corp.example", "lab.example"))
    ]


def test_browse_lists_what_mdns_found_when_dns_does_not_answer_in_the_window(fakes, search_domains):
    search_domains("corp.example")
    fakes.dns_gate.clear()
    near = found("alpha", "n1")
    fakes.mdns_browsed = Browsed([near])
    assert search.browse(0.3, (), None) == Browsed([near])
