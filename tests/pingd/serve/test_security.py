"""The allow-list's ZAP decisions and how loudly it refuses."""

from __future__ import annotations

import logging

from pingd.serve import security
from pingd.shared import keys


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_listed_keys_pass_and_refusals_are_rate_limited(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="pingd")
    listed = "a" * 40
    (tmp_path / "a.key").write_text(keys.certificate(listed, None))
    clock = Clock()
    allow = security.ClientAllowList(tmp_path, clock=clock)
    assert allow.callback("*", listed.encode())
    fresh = [f"{i:040d}" for i in range(50)]  # a client making a new key per attempt
    assert not any(allow.callback("*", k.encode()) for k in fresh)
    lines = [r for r in caplog.records if "refused a client" in r.getMessage()]
    assert len(lines) == security.REFUSAL_LINES
    clock.now += security.REFUSAL_LOG_INTERVAL
    assert not allow.callback("*", b"z" * 40)
    assert any("refused 45 more clients" in r.getMessage() for r in caplog.records)


def test_reload_picks_up_new_keys(tmp_path):
    allow = security.ClientAllowList(tmp_path)
    key = "k" * 40
    assert not allow.callback("*", key.encode())
    (tmp_path / "k").write_text(key)
    assert allow.reload() == 1 and allow.callback("*", key.encode())


def test_an_unexpected_error_in_a_decision_is_one_line_a_refusal_and_the_next_client_is_decided(
    tmp_path, caplog, monkeypatch
):
    """No thread dies silently: the allow-list runs on the ZAP handler's thread, where an
    exception would have ended it and stalled every encrypted handshake after it."""
    caplog.set_level(logging.ERROR, logger="pingd")
    listed = "a" * 40
    (tmp_path / "a.key").write_text(keys.certificate(listed, None))
    allow = security.ClientAllowList(tmp_path)
    real = allow._decide
    calls = iter([RuntimeError("injected")])

    def flaky(key: bytes) -> bool:
        failure = next(calls, None)
        if failure is not None:
            raise failure
        return real(key)

    monkeypatch.setattr(allow, "_decide", flaky)
    assert allow.callback("*", listed.encode()) is False  # refused, not raised
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["allow-list: refused a client after an unexpected error: RuntimeError: injected"]
    assert allow.callback("*", listed.encode()) is True  # the next one is decided as ever
