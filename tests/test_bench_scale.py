"""The 300-daemon rows tell a daemon slow on its own from a machine slow for everyone."""

from __future__ import annotations

from bench.scale import shared_slowness


def report(p50: float, rtts: list[float | None]) -> dict:
    samples = [{"seq": i, "rtt_ms": rtt, "count": i, "error": None} for i, rtt in enumerate(rtts, start=1)]
    return {"rtt_ms": {"p50": p50}, "samples": samples}


def test_a_worst_daemon_slow_on_its_own_has_no_slow_neighbours():
    fast = [0.4] * 10
    reports = [report(0.4, fast) for _ in range(99)] + [report(2.0, [2.0] * 6 + [0.4] * 4)]
    # Daemon 99 of 100 starts 99 ms in: its neighbours within 1.5 ms are session 98 in the same
    # round and session 0 in the next (which starts 100 ms in): two for each of its 6 slow pings.
    assert shared_slowness(reports, 1.0, 0.1, near_s=0.0015) == (10, 6, 12, 0)


def test_a_moment_slow_for_everyone_shows_in_the_neighbours():
    # Everyone slow in the first 0.2 s: the worst daemon's one slow ping (99 ms in) has slow
    # neighbours only.
    reports = [report(0.4, [5.0, 5.0] + [0.4] * 8) for _ in range(99)] + [report(3.0, [3.0] + [0.4] * 9)]
    assert shared_slowness(reports, 1.0, 0.1, near_s=0.0015) == (10, 1, 2, 2)


def test_no_samples_no_figures():
    assert shared_slowness([{"name": "x", "error": "no answer"}], 1.0, 0.1) == (0, 0, 0, 0)
