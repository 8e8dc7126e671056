"""The renderers take any status a daemon may send within the protocol's schema, and never
print a control character from it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pingctl.client import PingResult, Target
from pingctl.show import render
from pingd.shared import protocol
from tests.support.strategies import statuses

TARGET = Target("127.0.0.1", 7464, name="box")


def _printable(text: str) -> bool:
    return not any(ord(c) < 0x20 and c != "\n" or 0x7F <= ord(c) <= 0x9F for c in text)


@given(statuses, st.text(max_size=40))
def test_any_schema_valid_status_renders_without_control_characters(status, error):
    frame = protocol.encode_status_reply(1, status)
    decoded = protocol.decode_reply(frame).status  # what pingctl would hold
    lines = [
        *render.status_lines(TARGET, decoded),
        render.session_header(TARGET, 3, 1.0, decoded),
        render.result_line(1, PingResult(1, rtt_ms=0.1, error=error), TARGET, 1.0),
        *render.summary_lines(decoded.name, _summary(), 5),
    ]
    assert all(_printable(line) for line in lines), lines
    assert render.status_json(decoded, TARGET)["name"] == status["name"]  # JSON keeps the exact text


def _summary():
    from pingctl.stats import summarise

    return summarise(2, [0.1, 0.2], 1.0)


def test_how_a_daemon_is_announced_is_shown_when_it_says():
    base = {key: (0 if kind in (int, float) else "x") for key, (kind, _) in protocol.STATUS_SCHEMA.items()}
    older = protocol.Status.from_json(base)
    assert not any("announced" in line for line in render.status_lines(TARGET, older))
    newer = protocol.Status.from_json(base | {"announced": "DNS: not registered in example.org (REFUSED)"})
    assert render.status_lines(TARGET, newer)[-1] == "  announced    DNS: not registered in example.org (REFUSED)"
    assert render.status_json(newer, TARGET)["announced"].startswith("DNS: not registered")
