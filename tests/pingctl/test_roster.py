"""Which daemons the monitor probes and until when: the grace period after a daemon leaves,
a daemon seen by two sources probed once, one that changes address moved on, and memory that
stays bounded while a thousand daemons come and go, again and again."""

from __future__ import annotations

import gc
import tracemalloc
from dataclasses import replace

import pytest
import zmq

from pingctl.exposition import Figures, Labels
from pingctl.find.found import Found
from pingctl.monitoring import Monitor, Plan
from pingctl.probing import Prober
from pingctl.roster import Roster

A, B = Labels("a", "10.0.0.1:7464", "01"), Labels("b", "10.0.0.2:7464", "02")


def test_a_subject_is_new_once_and_forgotten_only_after_its_grace():
    r: Roster[str, Labels] = Roster(grace=300)
    assert r.hold("mdns/a", A, now=0) is True
    assert r.hold("mdns/a", A, now=1) is False  # the same record again (its TTL refreshed)
    r.release("mdns/a", now=10)
    assert r.leaving(A) and r.next_due() == 310
    assert r.due(309.9) == [] and A in r.subjects()  # still probed within its grace
    assert r.due(310) == [A] and r.subjects() == [] and r.size() == 0


def test_a_daemon_back_within_its_grace_is_kept_and_its_old_deadline_forgotten():
    r: Roster[str, Labels] = Roster(grace=300)
    r.hold("mdns/a", A, 0)
    r.release("mdns/a", 10)
    assert r.hold("mdns/a", A, 20) is False  # back: not new, its series go on
    assert not r.leaving(A) and r.due(1000) == [] and r.subjects() == [A]
    r.release("mdns/a", 1000)
    assert r.due(1299) == [] and r.due(1300) == [A]  # the later leaving's grace, not the first's


def test_a_subject_two_sources_hold_stays_until_both_let_go():
    r: Roster[tuple[str, str], Labels] = Roster(grace=5)
    assert r.hold(("local", "a"), A, 0) is True
    assert r.hold(("example.org", "a"), A, 0) is False  # the same daemon in DNS: probed once
    r.release(("local", "a"), 1)
    assert not r.leaving(A) and r.due(100) == []
    r.release(("example.org", "a"), 100)
    assert r.due(105) == [A]


def test_a_record_that_changes_subject_lets_the_old_one_go():
    r: Roster[str, Labels] = Roster(grace=5)
    r.hold("mdns/a", A, 0)
    moved = Labels("a", "10.0.0.9:7464", "01")
    assert r.hold("mdns/a", moved, 1) is True
    assert r.leaving(A) and r.subject("mdns/a") == moved
    assert r.due(6) == [A] and r.subjects() == [moved]


def test_releasing_a_record_never_held_changes_nothing():
    r: Roster[str, Labels] = Roster(grace=5)
    r.release("nobody", 0)
    assert r.size() == 0 and r.due(10) == []


# -- the monitor over days of churn -----------------------------------------------------------


def found(i: int, port: int = 7464) -> Found:
    return Found(f"churn-{i:04d}", f"pingd-{i}.local", (f"10.1.{i // 250}.{i % 250 + 1}",), port, f"{i:016x}", "1", "1")


@pytest.fixture
def monitor():
    context = zmq.Context()
    figures = Figures()
    prober = Prober(figures, 1.0, 1.0, context, lambda: pytest.fail("no keys needed"))
    lines: list[str] = []
    made = Monitor(figures, prober, Plan(forget_after=300), lines.append)
    made.lines = lines  # type: ignore[attr-defined]
    yield made
    prober.close()
    context.destroy(linger=0)


def kept(m: Monitor) -> int:
    return m.roster.size() + m.prober.size() + len(m.figures.series) + len(m.probes)


def wave(m: Monitor, start: float, n: int = 1000) -> None:
    """``n`` daemons come, some change port, all go; then their grace runs out."""
    for i in range(n):
        m.news(("local", found(i)), start)
    for i in range(0, n, 10):
        m.news(("local", found(i, port=7465)), start + 1)
    for i in range(n):
        m.news(("local", found(i).name), start + 2)
    m.forget_due(start + 2 + 300)


def test_a_thousand_daemons_come_and_go_and_nothing_is_left(monitor):
    wave(monitor, 0)
    assert kept(monitor) == 0
    for mark in "+-x":  # a hundred moved to another port: their old address left, the new came
        assert sum(line.startswith(f"{mark} ") for line in monitor.lines) == 1100


def test_memory_stays_bounded_over_waves_of_churn(monitor):
    for k in range(3):  # warm: every cache, free list and hash table at a wave's size
        wave(monitor, k * 1000.0)
    monitor.lines.clear()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for k in range(3, 8):
            wave(monitor, k * 1000.0)
            monitor.lines.clear()
        gc.collect()
        mine = [tracemalloc.Filter(True, "*/pingctl/*")]  # not a tracer's (coverage's) own tables
        diffs = tracemalloc.take_snapshot().filter_traces(mine).compare_to(before.filter_traces(mine), "filename")
    finally:
        tracemalloc.stop()
    assert kept(monitor) == 0
    # Five more waves of 1,000 daemons: one object kept per daemon would be 5,000 more blocks.
    # What may differ is a few hash tables, sized to a wave's peak and re-made between waves.
    assert sum(d.count_diff for d in diffs) < 100
    assert sum(d.size_diff for d in diffs) < 1_000_000


def test_while_daemons_are_present_the_series_are_theirs_and_the_leavers(monitor):
    for i in range(3):
        monitor.news(("local", found(i)), 0)
    monitor.news(("local", found(0).name), 10)
    monitor.forget_due(309)
    assert len(monitor.figures.series) == 3 and len(monitor.prober.probes) == 3  # the leaver still probed
    # ...and no longer listed, so that an alert on its silence can tell it left on purpose.
    assert {s.name: f.listed for s, f in monitor.figures.series.items()} == {
        "churn-0000": 0,
        "churn-0001": 1,
        "churn-0002": 1,
    }
    monitor.forget_due(310)
    assert sorted(s.name for s in monitor.figures.series) == ["churn-0001", "churn-0002"]
    assert monitor.lines[-2:] == [
        "- churn-0000 10.1.0.1:7464 (gone; its series go in 300 s unless it returns)",
        "x churn-0000 10.1.0.1:7464 forgotten",
    ]


def test_only_the_names_asked_for_are_probed():
    context = zmq.Context()
    try:
        figures = Figures()
        prober = Prober(figures, 1.0, 1.0, context, lambda: pytest.fail("no keys needed"))
        m = Monitor(figures, prober, Plan(names=("CHURN-0002",)), lambda line: None)
        for i in range(4):
            m.news(("local", found(i)), 0)
        assert [s.name for s in figures.series] == ["churn-0002"]
    finally:
        context.destroy(linger=0)


# -- keys -----------------------------------------------------------------------------------

KEY = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
OTHER = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"


def test_a_daemon_whose_key_differs_from_the_pinned_one_is_not_probed(monitor, tmp_path, monkeypatch):
    from pingctl import trust

    monkeypatch.setenv("PINGCTL_CONFIG_DIR", str(tmp_path))
    trust.record("churn-0000", "0000000000000000", OTHER)
    impostor = replace(found(0), curve_key=KEY)
    monitor.news(("local", impostor), 0)
    (labels,) = monitor.figures.series
    series = monitor.figures.series[labels]
    assert series.errors == {"key_refused": 1} and series.up == 0
    assert monitor.probes == {labels: None} and monitor.prober.probes == set()
    monitor.news(("local", impostor.name), 1)
    monitor.forget_due(301)
    assert kept(monitor) == 0  # forgotten like any other


def test_a_new_key_is_pinned_once_the_daemon_has_answered_through_it(monitor, tmp_path, monkeypatch):
    from pingctl import trust

    monkeypatch.setenv("PINGCTL_CONFIG_DIR", str(tmp_path))
    monitor.news(("local", replace(found(1), curve_key=KEY)), 0)
    (probe,) = monitor.prober.probes
    assert probe.target.server_key == KEY and trust.check("churn-0001", "0000000000000001", KEY) is False
    assert probe.on_answer is not None
    probe.on_answer()  # what the prober calls on the first answer
    assert trust.check("churn-0001", "0000000000000001", KEY) is True
    monitor.news(("local", replace(found(1), curve_key=OTHER)), 1)  # the same daemon, another key
    assert len(monitor.figures.series) == 1 and probe.retired  # vetted afresh: refused
    assert monitor.figures.series[probe.labels].errors == {"key_refused": 1}
