"""`pingctl status` in-process: its options and their checks, one daemon's status as text and
JSON, and every daemon's in one table."""

from __future__ import annotations

import json
import socket

import pytest

from pingctl.commands.status import optional_watch_value
from tests.pingctl.commands.conftest import found
from tests.support.processes import refusing_port

ADDRESS = ("--server-ip", "127.0.0.1")


@pytest.mark.parametrize(
    "args, message",
    [
        ([*ADDRESS, "--watch", "inf"], "--watch"),
        ([*ADDRESS, "--watch", "nan"], "--watch"),
        ([*ADDRESS, "--timeout", "1e300"], "--timeout"),
        (["--discovery-timeout", "0"], "--discovery-timeout"),
        ([*ADDRESS, "--domain", "example.org"], "--domain chooses among"),
        (["--all", "--name", "box"], "--all asks every daemon discovery finds: drop --server-ip, --name"),
        (["--all", "--watch"], "--all asks every daemon"),
    ],
)
def test_bad_values_are_one_line_and_exit_2(pingctl, args, message):
    ran = pingctl("status", *args)
    assert ran.code == 2 and message in ran.err and ran.err.count("\n") == 1


def test_watch_takes_an_optional_value_for_status_only():
    assert optional_watch_value(["status", "--watch"]) == ["status", "--watch", "1"]
    assert optional_watch_value(["status", "--watch", "--json"]) == ["status", "--watch", "1", "--json"]
    assert optional_watch_value(["status", "--watch", "2.5"]) == ["status", "--watch", "2.5"]
    assert optional_watch_value(["discover", "--watch", "--json"]) == ["discover", "--watch", "--json"]


def test_one_daemons_status_as_text_and_as_json(pingctl, daemon):
    box = daemon()
    ran = pingctl("status", *ADDRESS, "--port", str(box.port))
    assert ran.code == 0
    assert ran.out.splitlines()[:2] == [f"pingd box at tcp://127.0.0.1:{box.port}", "  node id      n1"]
    assert "  uptime       1m 1s" in ran.out.splitlines()
    box = daemon()
    document = json.loads(pingctl("status", *ADDRESS, "--port", str(box.port), "--json").out)
    assert (document["count"], document["address"], document["port"]) == (7, "127.0.0.1", box.port)


def test_every_daemons_status_is_one_table_and_exit_1_when_one_gives_none(pingctl, daemon, discovered):
    with refusing_port() as gone:
        box = daemon(name="box")
        discovered(found("box", box.port), found("gone", gone))
        ran = pingctl("status", "--all", "--timeout", "2")
    header, row, why = ran.out.splitlines()
    assert header.split() == ["NAME", "ADDRESS", "COUNT", "SERVED", "UPTIME", "DURABILITY", "STORAGE", "SECURITY",
                              "VERSION"]  # fmt: skip
    assert row.split()[:5] == ["box", f"127.0.0.1:{box.port}", "7", "3", "1m"]
    assert why.startswith(f"gone  127.0.0.1:{gone}") and "cannot reach pingd at" in why
    assert ran.code == 1


def test_every_daemons_status_as_json_says_why_for_each_silent_one(pingctl, daemon, discovered):
    box = daemon(name="box")
    with socket.socket() as silent:  # accepts connections, never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        discovered(found("box", box.port), found("mute", port))
        documents = json.loads(pingctl("status", "--all", "--json", "--timeout", "0.3").out)
    assert documents[0]["name"] == "box" and documents[0]["port"] == box.port
    assert documents[1]["name"] == "mute" and documents[1]["addresses"] == ["127.0.0.1"]
    assert documents[1]["error"].startswith(f"no answer from pingd at 127.0.0.1:{port} within 0.3 s (connected")


def test_none_found_is_exit_2(pingctl, discovered):
    discovered()
    ran = pingctl("status", "--all")
    assert ran.code == 2 and ran.err.startswith("pingctl: no pingd found within 1 s; is one running and announced here")
