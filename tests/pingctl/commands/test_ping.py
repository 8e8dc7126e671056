"""`pingctl ping` in-process: its options and their checks, one daemon's session and report,
and several daemons at once, against fake daemons."""

from __future__ import annotations

import json

import pytest

from pingd.shared import protocol
from tests.pingctl.commands.conftest import found, pong

ADDRESS = ("--server-ip", "127.0.0.1")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--count", "-1"], "--count must be 0"),
        (["--interval", "-1"], "--interval"),
        (["--interval", "nan"], "--interval"),
        (["--interval", "inf"], "--interval"),
        (["--timeout", "0"], "--timeout"),
        (["--timeout", "inf"], "--timeout"),
        (["--timeout", "1e300"], "--timeout"),
        (["--timeout", "nan"], "--timeout"),
        (["--deadline", "0"], "--deadline"),
        (["--deadline", "nan"], "--deadline"),
        (["--port", "70000"], "port 70000"),
        (["--name", "x"], "--name chooses among discovered daemons"),
        (["--domain", "example.org"], "--domain chooses among discovered daemons"),
        (["--samples"], "--samples adds per-ping samples to the JSON output; use it with --json"),
        (["--server-key", "short"], "--server-key takes a 40-character"),
    ],
)
def test_bad_values_are_one_line_and_exit_2(pingctl, args, message):
    ran = pingctl("ping", *ADDRESS, *args)
    assert ran.code == 2 and ran.out == ""
    assert ran.err.startswith("pingctl: ") and message in ran.err and ran.err.count("\n") == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--port", "7464"], "--port needs --server-ip"),
        (["--discovery-timeout", "inf"], "--discovery-timeout"),
        (["--all", "--server-ip", "127.0.0.1", "--histogram"], "drop --server-ip, --histogram"),
        (["--name", "a", "--name", "b", "--server-key", "K" * 40], "drop --server-key"),
    ],
)
def test_flags_that_do_not_go_together_are_refused_before_any_discovery(pingctl, args, message):
    ran = pingctl("ping", *args)
    assert ran.code == 2 and message in ran.err


def test_unparseable_option_is_a_usage_error(pingctl):
    ran = pingctl("ping", "--count", "many")
    assert ran.code == 2 and "see 'pingctl ping --help'" in ran.err


def test_a_session_prints_ping_lines_then_the_summary_with_the_last_server_count(pingctl, daemon):
    box = daemon(pong(8), None, pong(10))
    ran = pingctl("ping", *ADDRESS, "--port", str(box.port), "-c", "3", "-i", "0", "--timeout", "0.3")
    lines = ran.out.splitlines()
    where = f"127.0.0.1:{box.port}"
    assert lines[0] == f"PING box (node n1) at tcp://127.0.0.1:{box.port}: 3 pings, interval 0 s"
    assert lines[1].startswith(f"pong from {where}: seq=1 count=8 time=")
    assert lines[2] == f"no reply from {where}: seq=2 (timeout 0.3 s)"
    assert lines[3].startswith(f"pong from {where}: seq=3 count=10 time=")
    assert lines[4:7] == ["", "--- box ping statistics ---", lines[6]]
    assert lines[6].startswith("3 pings transmitted, 2 received, 1 lost, 33.33% loss")
    assert lines[-1] == "server count 10" and ran.code == 0


def test_no_pong_at_all_is_exit_1(pingctl, daemon):
    box = daemon(lambda seq: [protocol.encode_error(seq, protocol.ErrorCode.STORAGE_FAILED, "storage failed")])
    ran = pingctl("ping", *ADDRESS, "--port", str(box.port), "-c", "1", "-q")
    assert ran.code == 1
    assert ran.out.splitlines()[1].startswith("1 pings transmitted, 0 received, 1 lost, 100% loss")
    assert "server count" not in ran.out


def test_json_with_samples_and_histogram_is_one_document(pingctl, daemon):
    box = daemon(pong(8), pong(9))
    ran = pingctl("ping", *ADDRESS, "--port", str(box.port), "-c", "2", "-i", "0", "--json", "--samples", "--histogram")
    report = json.loads(ran.out)
    assert (report["sent"], report["received"], report["last_count"]) == (2, 2, 9)
    assert [s["count"] for s in report["samples"]] == [8, 9] and [s["seq"] for s in report["samples"]] == [1, 2]
    assert sum(bucket["count"] for bucket in report["histogram"]) == 2
    assert report["server"] == {"address": "127.0.0.1", "port": box.port, "node_id": "n1", "name": "box"}


def test_several_daemons_each_get_a_session_and_an_fping_line(pingctl, daemon, discovered):
    alpha, beta = daemon(pong(1), pong(2), name="alpha"), daemon(pong(5), None, name="beta")
    discovered(found("alpha", alpha.port), found("beta", beta.port))
    ran = pingctl("ping", "--all", "-c", "2", "-i", "0.01", "--timeout", "0.3")
    alpha_line, beta_line = ran.out.splitlines()
    assert alpha_line.startswith(f"alpha (127.0.0.1:{alpha.port}) : xmt/rcv/%loss = 2/2/0%, min/avg/max = ")
    assert alpha_line.endswith(", count 2")
    assert beta_line.startswith(f"beta (127.0.0.1:{beta.port})  : xmt/rcv/%loss = 2/1/50%, min/avg/max = ")
    assert beta_line.endswith(", count 5") and ran.code == 0


def test_a_name_not_found_is_a_row_and_exit_1(pingctl, daemon, discovered):
    alpha = daemon(pong(1), name="alpha")
    discovered(found("alpha", alpha.port))
    ran = pingctl("ping", "--name", "ALPHA", "--name", "gamma", "-c", "1", "--json")
    documents = json.loads(ran.out)
    assert [d.get("name") or d["server"]["name"] for d in documents] == ["alpha", "gamma"]
    assert documents[1] == {"name": "gamma", "address": "?", "error": "not found within 1 s"}
    assert documents[0]["last_count"] == 1 and ran.code == 1


def test_none_found_is_exit_2_with_what_to_try(pingctl, discovered):
    discovered(ignored=("'evil': its node id is not 1-64 letters or digits",))
    ran = pingctl("ping", "--all")
    assert ran.code == 2
    assert ran.err.splitlines() == [
        "pingctl: ignored a record: 'evil': its node id is not 1-64 letters or digits",
        "pingctl: no pingd found within 1 s; is one running and announced here (pingctl discover), or registered "
        "in a domain (--domain)?",
    ]
    discovered()
    ran = pingctl("ping", "--name", "a", "--name", "b", "--domain", "example.org")
    assert (
        ran.err == "pingctl: no pingd named 'a', 'b' registered in example.org; check the names with pingctl discover\n"
    )
