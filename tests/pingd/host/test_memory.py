"""Returning freed memory: when pingd trims, and that it says so."""

from __future__ import annotations

import logging

from pingd.host import memory


class FakeResident:
    def __init__(self, *values):
        self.values = list(values)

    def __call__(self):
        return self.values.pop(0) if len(self.values) > 1 else self.values[0]


def test_trims_only_when_grown_and_not_more_often_than_the_interval(monkeypatch, caplog):
    mb = 2**20
    trims = []
    monkeypatch.setattr(memory, "_malloc_trim", lambda: lambda: trims.append(1))
    caplog.set_level(logging.INFO, logger="pingd")
    # start 25 MB; then 26 (no trim); then 107 -> trimmed to 27
    trimmer = memory.MemoryTrimmer(FakeResident(25 * mb, 26 * mb, 107 * mb, 27 * mb))
    trimmer.check(0.0)
    assert trims == []
    trimmer.check(1.0)  # within the interval: not even looked at
    trimmer.check(memory.INTERVAL)
    assert trims == [1]
    assert "returned 80 MB of freed memory" in caplog.text


def test_a_system_without_malloc_trim_is_fine():
    trim = memory._malloc_trim()
    trim()  # glibc's, or a no-op elsewhere
    assert memory.resident_bytes() is None or memory.resident_bytes() > 0
