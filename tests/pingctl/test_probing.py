"""The prober: its schedule (a random phase, jittered intervals, never a burst), and its loop
against fake daemons on loopback — every probe accounted for once (answered, lost or failed),
a lost one never sent again, failures by kind, and a daemon given by address named by its
STATUS."""

from __future__ import annotations

import random
import statistics
import threading
import time
from collections.abc import Callable

import pytest
import zmq

from pingctl.exposition import Figures, Labels
from pingctl.model import Target
from pingctl.probing import JITTER, Probe, Prober, error_kind, first_due, next_due
from pingd.shared import protocol
from tests.pingctl.commands.conftest import STATUS
from tests.support import wire
from tests.support.fakes import fake_router


def test_a_first_probe_falls_anywhere_within_the_first_interval():
    rng = random.Random(7)
    firsts = [first_due(100.0, 2.0, rng) - 100.0 for _ in range(2000)]
    assert 0 <= min(firsts) < 0.05 and 1.95 < max(firsts) < 2.0  # spread over the whole interval


def test_each_interval_varies_within_the_jitter_and_keeps_the_rate():
    rng = random.Random(7)
    gaps = [next_due(10.0, 0.0, 1.0, rng) - 10.0 for _ in range(5000)]
    assert 1 - JITTER <= min(gaps) < 1 - JITTER * 0.95 and 1 + JITTER * 0.95 < max(gaps) <= 1 + JITTER
    assert statistics.mean(gaps) == pytest.approx(1.0, abs=0.005)


def test_a_probe_that_ended_late_is_followed_at_once_not_by_a_burst():
    rng = random.Random(7)
    slot, now = 10.0, 14.5  # its outcome came four intervals late (a timeout of 4.5 s)
    following = next_due(slot, now, 1.0, rng)
    assert following == now
    assert next_due(following, now, 1.0, rng) >= now + 1 - JITTER  # then back on an interval


def test_error_kinds_are_the_codes_names_and_unknown_codes_one_kind():
    assert error_kind(protocol.ErrorCode.STORAGE_FAILED) == "storage_failed"
    assert error_kind(protocol.ErrorCode.COUNT_EXHAUSTED) == "count_exhausted"
    assert {error_kind(c) for c in (9, 4000, 65535)} == {"error_reply"}


# -- the loop against fake daemons ------------------------------------------------------------


class Loop:
    """A prober on its own context, turned by the test until a condition holds."""

    def __init__(self, interval: float = 0.02, timeout: float = 0.1) -> None:
        self.figures = Figures()
        self.context = zmq.Context()
        self.prober = Prober(self.figures, interval, timeout, self.context, lambda: pytest.fail("no keys needed"))

    def add(self, port: int, given: bool = False) -> Probe:
        labels = Labels("" if given else "box", f"127.0.0.1:{port}", "" if given else "n1")
        target = Target("127.0.0.1", port)
        return self.prober.add(Probe(target, labels, self.figures.open(labels), given=given), time.monotonic())

    def until(self, condition: Callable[[], object], what: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            self.prober.turn(time.monotonic() + 0.05)

    def close(self) -> None:
        self.prober.close()
        self.context.destroy(linger=0)


@pytest.fixture
def loop():
    made = Loop()
    yield made
    made.close()


class Seen:
    """What a fake daemon received: every request's type and sequence number."""

    def __init__(self) -> None:
        self.requests: list[tuple[int, int]] = []
        self.lock = threading.Lock()

    def note(self, frame: bytes) -> tuple[int, int]:
        _, _, kind, seq = protocol.HEADER.unpack_from(frame)
        with self.lock:
            self.requests.append((kind, seq))
        return kind, seq


def test_every_probe_is_answered_or_lost_once_and_a_lost_one_is_never_sent_again(loop):
    seen = Seen()

    def every_third_unanswered(frame: bytes) -> bytes | None:
        _, seq = seen.note(frame)
        return None if seq % 3 == 0 else wire.pong(seq, 1000 + seq)

    with fake_router(every_third_unanswered) as port:
        probe = loop.add(port)
        loop.until(lambda: probe.series.lost >= 3 and not probe.waiting, "three probes lost")
    s = probe.series
    assert s.sent == s.received + s.lost and s.lost == s.sent // 3
    assert sum(s.buckets) == s.received and s.errors == {}
    seqs = [seq for _, seq in seen.requests]
    assert seqs == list(range(1, len(seqs) + 1))  # each sequence number once: nothing re-sent
    assert all(kind == protocol.MessageType.PING for kind, _ in seen.requests)
    assert s.up == 0 and s.count == 1000 + s.sent - 1  # the last answered before the last loss


def test_up_follows_the_last_probe_and_the_count_the_last_pong(loop):
    answering = threading.Event()

    def while_answering(frame: bytes) -> bytes | None:
        seq = protocol.sequence_of(frame)
        return wire.pong(seq, seq) if answering.is_set() else None

    with fake_router(while_answering) as port:
        probe = loop.add(port)
        loop.until(lambda: probe.series.up == 0, "a loss")
        answering.set()
        loop.until(lambda: probe.series.up == 1, "an answer")
        assert probe.series.count == probe.seq


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        (lambda seq: protocol.encode_error(seq, protocol.ErrorCode.STORAGE_FAILED, "disk full"), "storage_failed"),
        (lambda seq: b"HTTP/1.1 400 Bad Request", "not_pingd"),
        (lambda seq: b"PD\x07" + bytes(9), "wrong_version"),
        (lambda seq: protocol.encode_status_reply(seq, STATUS), "bad_reply"),  # a STATUS_REPLY to a PING
    ],
)
def test_an_answer_that_is_no_pong_is_a_loss_of_its_kind(loop, answer, kind):
    with fake_router(lambda frame: answer(protocol.sequence_of(frame))) as port:
        probe = loop.add(port)
        loop.until(lambda: probe.series.lost >= 2, "two failures")
    assert probe.series.errors[kind] == probe.series.lost and probe.series.received == 0
    assert probe.series.up == 0 and sum(probe.series.buckets) == 0


def test_a_reply_to_an_earlier_request_is_not_taken_for_the_current_one(loop):
    with fake_router(lambda frame: wire.pong(protocol.sequence_of(frame) - 1, 1)) as port:
        probe = loop.add(port)
        loop.until(lambda: probe.series.lost >= 3, "three probes lost")
    assert probe.series.received == 0 and probe.series.errors == {} and probe.series.count is None


def test_a_daemon_given_by_address_is_asked_who_it_is_then_pinged(loop):
    seen = Seen()

    def daemon(frame: bytes) -> bytes:
        kind, seq = seen.note(frame)
        if kind == protocol.MessageType.STATUS:
            return protocol.encode_status_reply(seq, {**STATUS, "name": "given\x1b[2J", "node_id": "00cc"})
        return wire.pong(seq, 8)

    with fake_router(daemon) as port:
        probe = loop.add(port, given=True)
        loop.until(lambda: probe.series.received >= 3, "three answers")
    assert [kind for kind, _ in seen.requests[:2]] == [protocol.MessageType.STATUS, protocol.MessageType.PING]
    # The name as the daemon gave it: the exposition escapes what its format needs, once.
    assert probe.labels == Labels("given\x1b[2J", f"127.0.0.1:{port}", "00cc")
    assert loop.figures.series == {probe.labels: probe.series}  # moved, not copied
    # The STATUS was a lookup, not a probe: only the PINGs count, and only they are timed.
    assert probe.series.sent == probe.series.received == sum(probe.series.buckets)
    assert probe.series.count == 8  # from the last PONG


def test_a_given_daemon_that_refuses_every_ping_is_down_and_all_its_probes_lost(loop):
    """It answers STATUS but refuses PING (its disk is failing): every probe is lost and it
    is down, not half up; it is not asked who it is again, since it answered."""
    seen = Seen()

    def daemon(frame: bytes) -> bytes:
        kind, seq = seen.note(frame)
        if kind == protocol.MessageType.STATUS:
            return protocol.encode_status_reply(seq, STATUS)
        return protocol.encode_error(seq, protocol.ErrorCode.STORAGE_FAILED, "no space")

    with fake_router(daemon) as port:
        probe = loop.add(port, given=True)
        loop.until(lambda: probe.series.lost >= 4, "four probes lost")
    series = probe.series
    assert series.received == 0 and series.up == 0 and series.sent == series.lost
    assert series.errors == {"storage_failed": series.lost} and sum(series.buckets) == 0
    assert [kind for kind, _ in seen.requests].count(protocol.MessageType.STATUS) == 1


def test_a_retired_probe_sends_nothing_more_and_keeps_nothing(loop):
    seen = Seen()
    with fake_router(lambda frame: wire.pong(seen.note(frame)[1], 1)) as port:
        probe = loop.add(port)
        loop.until(lambda: probe.series.received >= 2, "two answers")
        loop.prober.retire(probe)
        sent = len(seen.requests)
        loop.until(lambda: loop.prober.size() == 0, "the retired probe's entries to go")
        later = time.monotonic() + 0.2
        loop.until(lambda: time.monotonic() > later, "a few intervals")
    assert len(seen.requests) == sent and probe.sock is None
