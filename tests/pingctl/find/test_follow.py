"""Following every source at once for the monitor: whose news is whose, the browse domains the
network suggests followed beside mDNS, --domain alone, and a source that cannot start."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import pytest

from pingctl.errors import PingctlError
from pingctl.find import follow, resolvconf, watch, widearea
from pingctl.find.found import Found
from tests.pingctl.commands.conftest import found
from tests.support.processes import wait_for


@pytest.fixture
def sources(monkeypatch):
    """mDNS finds alpha then loses it; each DNS domain finds a daemon named after it."""

    def mdns(interfaces: tuple[str, ...], stop=lambda: False) -> Iterator[Found | str]:
        yield found("alpha", 7001)
        yield "alpha"

    def domain(name: str, every: float = 5.0, stop=lambda: False) -> Iterator[Found | str]:
        yield found(name.split(".")[0], 7002)

    monkeypatch.setattr(watch, "watch", mdns)
    monkeypatch.setattr(widearea, "watch", domain)
    monkeypatch.setattr(widearea, "suggested_domains", lambda search, deadline: [f"lab.{d}" for d in search])


def news_of(interfaces: tuple[str, ...], domain: str | None, count: int) -> list:
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    stop = threading.Event()
    threads = follow.follow(interfaces, domain, inbox.put, stop)
    got: list = []
    wait_for(lambda: got.extend(_drain(inbox)) or len(got) >= count, 10, f"{count} pieces of news")
    stop.set()
    for thread in threads:
        thread.join(5)
    return got


def _drain(inbox: queue.SimpleQueue) -> list:
    out = []
    while not inbox.empty():
        out.append(inbox.get())
    return out


def test_without_a_domain_mdns_and_the_suggested_browse_domains_are_followed(sources, monkeypatch):
    monkeypatch.setattr(resolvconf, "read", lambda: resolvconf.ResolverSettings(("192.0.2.53",), ("example.org",)))
    got = news_of(("127.0.0.1",), None, 3)
    assert sorted(got, key=str) == sorted(
        [("local", found("alpha", 7001)), ("local", "alpha"), ("lab.example.org", found("lab", 7002))], key=str
    )


def test_with_no_search_domain_only_mdns_is_followed(sources, monkeypatch):
    monkeypatch.setattr(resolvconf, "read", lambda: resolvconf.ResolverSettings(("192.0.2.53",), ()))
    assert news_of((), None, 2) == [("local", found("alpha", 7001)), ("local", "alpha")]


def test_a_domain_given_is_followed_alone(sources):
    assert news_of((), "example.net", 1) == [("example.net", found("example", 7002))]


def test_a_source_that_cannot_start_is_news_too(monkeypatch):
    def broken(interfaces: tuple[str, ...], stop=lambda: False) -> Iterator[Found | str]:
        raise PingctlError("cannot start mDNS discovery ([Errno 99] Cannot assign requested address)")
        yield  # a generator, as the watcher is

    monkeypatch.setattr(watch, "watch", broken)
    monkeypatch.setattr(resolvconf, "read", lambda: resolvconf.ResolverSettings(("192.0.2.53",), ()))
    (error,) = news_of(("192.0.2.254",), None, 1)
    assert isinstance(error, PingctlError) and "cannot start mDNS discovery" in str(error)
