"""`pingctl discover` in-process: the table, JSON, what nothing found says, and the watcher's
lines and events as daemons come and go."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from pingctl.find import watch, widearea
from pingctl.find.found import Found
from tests.pingctl.commands.conftest import found


@pytest.mark.parametrize("value", ["0", "nan", "inf", "3601"])
def test_a_window_that_cannot_be_kept_is_refused(pingctl, value):
    ran = pingctl("discover", "--timeout", value)
    assert ran.code == 2 and "--timeout takes a number of seconds" in ran.err


def test_the_table_lists_each_daemon_with_its_host(pingctl, discovered):
    discovered(found("alpha", 7001), found("beta", 7002, address="10.0.0.2"))
    ran = pingctl("discover")
    assert ran.code == 0 and ran.err == ""
    assert [line.split() for line in ran.out.splitlines()] == [
        ["NAME", "ADDRESSES", "PORT", "VERSION", "NODE", "ID", "HOST"],
        ["alpha", "127.0.0.1", "7001", "0.1.0", "idalpha", "pingd-alpha.local"],
        ["beta", "10.0.0.2", "7002", "0.1.0", "idbeta", "pingd-beta.local"],
    ]


def test_json_is_one_list(pingctl, discovered):
    discovered(found("alpha", 7001))
    listed = json.loads(pingctl("discover", "--json").out)
    assert listed == [found("alpha", 7001).as_dict()]


def test_nothing_found_says_so_and_some_seen_but_none_listed_is_exit_1(pingctl, discovered):
    discovered()
    ran = pingctl("discover", "--timeout", "0.5")
    assert (ran.code, ran.out, ran.err) == (0, "", "no pingd found within 0.5 s\n")
    discovered(unresolved=2)
    ran = pingctl("discover", "--domain", "example.org")
    assert ran.code == 1 and ran.out == ""
    assert "2 more announced or registered, but their records did not resolve within the 1 s deadline" in ran.err


def _coming_and_going() -> Iterator[Found | str]:
    yield found("alpha", 7001)
    yield found("beta", 7002)
    yield "alpha"
    raise KeyboardInterrupt  # Ctrl-C ends the watch


def test_watching_prints_a_line_per_change_when_piped(pingctl, monkeypatch):
    monkeypatch.setattr(watch, "watch", lambda interfaces: _coming_and_going())
    ran = pingctl("discover", "--watch")
    assert ran.code == 0
    assert ran.out.splitlines() == [
        "+ alpha 127.0.0.1:7001 idalpha 0.1.0",
        "+ beta 127.0.0.1:7002 idbeta 0.1.0",
        "- alpha",
    ]


def test_watching_a_domain_with_json_prints_an_event_per_change(pingctl, monkeypatch):
    asked: list[str] = []
    monkeypatch.setattr(widearea, "watch", lambda domain: asked.append(domain) or _coming_and_going())
    ran = pingctl("discover", "--watch", "--json", "--domain", "example.org")
    events = [json.loads(line) for line in ran.out.splitlines()]
    assert asked == ["example.org"]
    assert [(e["event"], e["name"]) for e in events] == [("added", "alpha"), ("added", "beta"), ("removed", "alpha")]
    assert events[0]["port"] == 7001 and events[0]["node_id"] == "idalpha"
