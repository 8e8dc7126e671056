"""Logging for where pingd runs: journald priorities under systemd, plain lines elsewhere."""

from __future__ import annotations

import logging

from pingd.host import logs


def test_journal_lines_carry_syslog_priorities():
    formatter = logs.JournalFormatter("%(message)s")
    for level, priority in ((logging.DEBUG, 7), (logging.INFO, 6), (logging.WARNING, 4), (logging.ERROR, 3)):
        record = logging.LogRecord("pingd", level, __file__, 1, "hello", (), None)
        assert formatter.format(record) == f"<{priority}>hello"


def test_not_under_journald_without_its_stream(monkeypatch):
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    assert not logs.under_journald()
    monkeypatch.setenv("JOURNAL_STREAM", "1:2")
    assert not logs.under_journald()  # stderr is not that stream
