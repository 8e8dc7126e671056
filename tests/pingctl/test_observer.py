"""The session observer, in-process: each result kept once, and every view's figures derived
from that one record, consistent whichever thread reads them and whenever (SIGQUIT too)."""

from __future__ import annotations

import signal
import sys
import threading

import pytest

from pingctl import stats
from pingctl.model import PingResult
from pingctl.observer import Observer


def _pong(seq: int, rtt: float, count: int | None = None) -> PingResult:
    return PingResult(seq, rtt_ms=rtt, count=100 + seq if count is None else count)


def test_each_result_is_kept_once_in_order_and_the_listener_told_of_it():
    told: list[tuple[int, int]] = []
    observer = Observer(lambda index, result: told.append((index, result.seq)))
    results = [_pong(1, 0.2), PingResult(2), PingResult(3, rtt_ms=0.5, error="storage failed"), _pong(4, 0.4)]
    for index, result in enumerate(results, start=1):
        observer.record(index, result)
    assert observer.results() == results
    assert told == [(1, 1), (2, 2), (3, 3), (4, 4)]
    running = observer.figures().running
    # An error reply has a round trip but is no pong: sent and lost, like a timeout.
    assert (running.sent, running.received, running.last, running.min, running.max) == (4, 2, 0.4, 0.2, 0.4)
    assert observer.answered


def test_the_server_count_is_the_latest_pongs_and_survives_losses_and_errors():
    observer = Observer()
    assert observer.last_count is None and observer.figures().last_count is None
    observer.record(1, _pong(1, 0.2, count=41))
    observer.record(2, PingResult(2))
    observer.record(3, PingResult(3, rtt_ms=0.3, error="storage failed"))
    assert observer.last_count == 41 and observer.figures().last_count == 41
    observer.record(4, _pong(4, 0.2, count=43))
    assert observer.last_count == 43


def test_a_ping_cut_off_is_sent_and_lost_but_not_shown():
    told: list[int] = []
    observer = Observer(lambda index, result: told.append(index))
    observer.record(1, _pong(1, 0.2))
    observer.cut_off(PingResult(2))
    assert told == [1]
    assert [r.seq for r in observer.results()] == [1, 2]
    assert observer.summary(1.0).sent == 2 and observer.summary(1.0).received == 1


def test_figures_are_a_copy_that_later_results_leave_alone():
    observer = Observer()
    observer.record(1, _pong(1, 0.2))
    before = observer.figures()
    observer.record(2, _pong(2, 0.6))
    assert (before.running.sent, before.running.last) == (1, 0.2)
    assert (observer.figures().running.sent, observer.figures().running.last) == (2, 0.6)
    results = observer.results()
    results.clear()
    assert len(observer.results()) == 2  # a copy, too


def test_the_median_sorts_each_round_trip_in_once_however_often_it_is_asked():
    observer = Observer()
    assert observer.figures(p50=True).p50 is None
    observer.record(1, PingResult(1))
    assert observer.figures(p50=True).p50 is None  # no pong yet
    rtts = [0.5, 0.1, 0.9, 0.3, 0.7, 0.2]
    for seq, rtt in enumerate(rtts[:3], start=2):
        observer.record(seq, _pong(seq, rtt))
    assert observer.figures(p50=True).p50 == 0.5
    assert observer.figures(p50=True).p50 == 0.5  # asked again: nothing sorted in twice
    for seq, rtt in enumerate(rtts[3:], start=5):
        observer.record(seq, _pong(seq, rtt))
    assert observer.figures(p50=True).p50 == stats.percentile(sorted(rtts), 50)
    assert observer.figures().p50 is None  # only when asked for


def test_the_summary_and_the_round_trips_come_from_the_same_results():
    observer = Observer()
    for seq, result in enumerate([_pong(1, 0.3), PingResult(2), _pong(3, 0.1), _pong(4, 0.2)], start=1):
        observer.record(seq, result)
    assert observer.rtts() == [0.3, 0.1, 0.2]  # in the order they came
    assert observer.summary(2.5) == stats.summarise(4, [0.3, 0.1, 0.2], 2.5)


def test_a_reader_never_sees_a_result_half_taken_in():
    """The n-th result is a pong carrying count 100 + n, so in any consistent copy received
    equals sent and the last count is 100 + sent; a copy torn in the middle of taking a result
    in breaks one or the other. Threads switch every microsecond here, so reading the writer's
    figures directly (no published copy) fails this within a few hundred thousand results."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    observer = Observer()
    done = threading.Event()
    total = 100_000

    def write() -> None:
        try:
            for seq in range(1, total + 1):
                observer.record(seq, _pong(seq, 0.25))
        finally:
            done.set()

    torn: list[tuple[int, int, int | None]] = []
    writer = threading.Thread(target=write)
    try:
        writer.start()
        copies = 0
        while not done.is_set() or copies == 0:
            figures = observer.figures(p50=copies % 8 == 0)
            copies += 1
            running = figures.running
            if running.received != running.sent or figures.last_count != (100 + running.sent if running.sent else None):
                torn.append((running.sent, running.received, figures.last_count))
        writer.join()
    finally:
        sys.setswitchinterval(previous)
    assert torn == [], f"{len(torn)} torn copies in {copies}, e.g. {torn[:3]}"
    assert observer.figures().running.sent == total


def test_sigquit_during_a_redraw_prints_instead_of_deadlocking(monkeypatch, capsys):
    """SIGQUIT's handler runs on the main thread wherever that thread is, here in the middle of
    a redraw's figures (sorting round trips in for the median, under the readers' lock). The
    handler must get its figures anyway; a deadlock fails the test through an alarm instead of
    hanging it."""
    observer = Observer()
    observer.record(1, _pong(1, 0.2))
    sort_in = stats.Ordered.extend
    quit_seen: list[int] = []

    def extend_and_quit(self: stats.Ordered, new: list[float]) -> None:
        signal.raise_signal(signal.SIGQUIT)
        assert quit_seen, "the handler did not run in the middle of figures()"
        sort_in(self, new)

    def on_quit(signum: int, frame: object) -> None:
        quit_seen.append(signum)
        print(f"sent {observer.figures().running.sent}", file=sys.stderr)

    def on_alarm(signum: int, frame: object) -> None:
        raise TimeoutError("deadlocked: the SIGQUIT handler waited on a lock its own thread holds")

    monkeypatch.setattr(stats.Ordered, "extend", extend_and_quit)
    previous = signal.signal(signal.SIGQUIT, on_quit), signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, 5.0)
    try:
        assert observer.figures(p50=True).p50 == 0.2
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGQUIT, previous[0])
        signal.signal(signal.SIGALRM, previous[1])
    assert capsys.readouterr().err == "sent 1\n"


@pytest.mark.parametrize("count", [0, 1, 7])
def test_answered_means_a_pong_came_back(count: int):
    observer = Observer()
    for seq in range(1, count + 1):
        observer.record(seq, PingResult(seq))
    assert not observer.answered
    observer.record(count + 1, _pong(count + 1, 0.1))
    assert observer.answered
