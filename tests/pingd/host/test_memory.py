"""Returning freed memory: when pingd trims, and that it says so."""

from __future__ import annotations

import logging

import pytest

from pingd.host import memory


class FakeResident:
    """Resident sizes in turn (the last one repeats), and how many times it was read."""

    def __init__(self, *values: int) -> None:
        self.values = list(values)
        self.reads = 0

    def __call__(self) -> int:
        self.reads += 1
        return self.values.pop(0) if len(self.values) > 1 else self.values[0]


def test_trims_only_when_grown_and_not_more_often_than_the_interval(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    mb = 2**20
    trims: list[int] = []
    monkeypatch.setattr(memory, "_malloc_trim", lambda: lambda: trims.append(1))
    caplog.set_level(logging.INFO, logger="pingd")
    # start 25 MB; then 26 (no trim); then 107 -> trimmed to 27
    resident = FakeResident(25 * mb, 26 * mb, 107 * mb, 27 * mb)
    trimmer = memory.MemoryTrimmer(resident)
    trimmer.check(0.0)
    assert trims == [] and resident.reads == 2  # the floor at start, then this look
    trimmer.check(memory.INTERVAL - 0.001)  # within the interval: not even looked at
    assert trims == [] and resident.reads == 2
    trimmer.check(memory.INTERVAL)
    assert trims == [1] and resident.reads == 4  # 107 MB: trimmed, and looked at again
    assert "returned 80 MB of freed memory" in caplog.text


def test_a_system_without_malloc_trim_is_fine() -> None:
    trim = memory._malloc_trim()
    trim()  # glibc's, or a no-op elsewhere
    rss = memory.resident_bytes()
    assert rss is None or rss > 0
