"""Each output shows events, panels and states its own way (the live one is checked on a real
terminal in tests/integration/test_pingctl_output.py)."""

from __future__ import annotations

import json

from pingctl.show import output


def _show(out) -> None:
    with out:
        out.header("PING box")
        out.event("pong 1")
        out.event("lost 2", failed=True)
        out.panel([("bar", "reverse")])
        out.state("line", [("panel", "")], {"count": 3})


def test_plain_prints_header_events_and_states_as_lines(capsys):
    _show(output.PlainOutput())
    assert capsys.readouterr().out.splitlines() == ["PING box", "pong 1", "lost 2", "line"]


def test_quiet_prints_nothing(capsys):
    _show(output.QuietOutput())
    assert capsys.readouterr().out == ""


def test_json_prints_one_document_per_state(capsys):
    _show(output.JsonOutput())
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == [{"count": 3}]


def test_choose_follows_the_flags_then_the_terminal():
    assert type(output.choose(json_output=True, terminal=True, color=True, transient=True)) is output.JsonOutput
    assert type(output.choose(quiet=True, terminal=True, color=True, transient=True)) is output.QuietOutput
    assert type(output.choose(terminal=False, color=True, transient=True)) is output.PlainOutput


def test_outputs_say_what_they_show_so_callers_build_only_that():
    assert (output.PlainOutput.shows_events, output.PlainOutput.shows_panels) == (True, False)
    assert (output.QuietOutput.shows_events, output.QuietOutput.shows_panels) == (False, False)
    assert (output.JsonOutput.shows_events, output.JsonOutput.shows_panels) == (False, False)
    assert (output.LiveOutput.shows_events, output.LiveOutput.shows_panels) == (True, True)
