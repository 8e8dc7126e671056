"""When the mesh probes whom (pingd.mesh.plan), pure: rounds with every peer once, uniform
jitter from a seeded generator, the cap on peers sampling afresh each round, the cap on
probes per second stretching rounds, and an empty round looking again soon."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from pingd.mesh.plan import MAX_RATE, Plan


def _keys(n: int) -> list[str]:
    return [f"peer{i:04d}" for i in range(n)]


def _drive(plan: Plan, peers: list[str], until: float, late: float = 0.0) -> list[tuple[float, str]]:
    """Call the plan as the prober does, at each next_time() (``late`` seconds after it), until
    ``until``: every (time, peer) it hands out."""
    handed: list[tuple[float, str]] = []
    now = 0.0
    for _ in range(1_000_000):  # bounded: far more turns than any test here takes
        handed += [(now, key) for key in plan.due(now, peers)]
        upcoming = plan.next_time()
        assert upcoming is not None and upcoming >= now
        if upcoming > until:
            return handed
        now = upcoming + late
    raise AssertionError("the plan never got past its deadline")


def _rounds(handed: list[tuple[float, str]], length: float) -> dict[int, list[str]]:
    by_round: dict[int, list[str]] = {}
    for when, key in handed:
        by_round.setdefault(int(when // length), []).append(key)
    return by_round


def test_before_the_first_call_nothing_is_planned() -> None:
    plan = Plan(1.0, 64, random.Random(0))
    assert plan.next_time() is None and plan.round_ends is None


def test_every_peer_is_probed_once_a_round_within_the_round() -> None:
    peers = _keys(20)
    handed = _drive(Plan(1.0, 64, random.Random(7)), peers, until=9.999)
    by_round = _rounds(handed, 1.0)
    assert sorted(by_round) == list(range(10))
    for keys in by_round.values():
        assert sorted(keys) == peers


def test_next_time_is_the_next_probe_then_the_rounds_end() -> None:
    plan = Plan(1.0, 64, random.Random(3))
    assert plan.due(0.0, ["a", "b"]) == []  # a moment drawn from (0, 1): none due at 0
    first = plan.next_time()
    assert first is not None and 0.0 < first < 1.0
    assert plan.due(first, ["a", "b"]) != []
    while plan.next_time() != plan.round_ends:  # bounded: two peers
        upcoming = plan.next_time()
        assert upcoming is not None
        plan.due(upcoming, ["a", "b"])
    assert plan.next_time() == plan.round_ends == 1.0


def test_jitter_is_uniform_over_the_round() -> None:
    """2,000 peers in one round of 10 s: each tenth of the round holds a tenth of them, give or
    take what chance gives (6 standard deviations; the seed makes it the same every run)."""
    peers = _keys(2000)
    plan = Plan(10.0, 2000, random.Random(11), rate=1e9)
    handed = _drive(plan, peers, until=9.9999)
    assert sorted(key for _, key in handed) == peers
    tenths = Counter(int(when) for when, _ in handed)
    assert sorted(tenths) == list(range(10))
    assert all(abs(n - 200) <= 6 * (2000 * 0.1 * 0.9) ** 0.5 for n in tenths.values()), tenths


def test_each_round_draws_the_moments_afresh() -> None:
    """A fleet started together does not probe in step: a peer's moment moves between rounds."""
    handed = _drive(Plan(1.0, 64, random.Random(5)), ["a", "b", "c"], until=3.999)
    offsets = {key: [when % 1.0 for when, k in handed if k == key] for key in "abc"}
    assert all(len(set(offset)) == 4 for offset in offsets.values()), offsets


def test_the_same_seed_gives_the_same_plan_and_another_seed_another() -> None:
    peers = _keys(10)
    one, again, other = (_drive(Plan(1.0, 64, random.Random(s)), peers, until=2.5) for s in (1, 1, 2))
    assert one == again and one != other


def test_above_the_cap_each_round_samples_afresh_and_every_peer_gets_its_turn() -> None:
    peers = _keys(10)
    handed = _drive(Plan(1.0, 3, random.Random(13)), peers, until=59.999)
    by_round = _rounds(handed, 1.0)
    assert len(by_round) == 60
    assert all(len(keys) == len(set(keys)) == 3 for keys in by_round.values())
    assert len({frozenset(keys) for keys in by_round.values()}) > 20  # not one subset again and again
    turns = Counter(key for _, key in handed)
    assert set(turns) == set(peers)  # every peer probed: on average 60 * 3 / 10 = 18 times
    assert min(turns.values()) >= 6, turns


def test_the_rate_cap_stretches_rounds_instead_of_raising_the_rate() -> None:
    plan = Plan(0.5, 64, random.Random(17), rate=MAX_RATE)
    assert MAX_RATE == 50.0
    assert plan.length(10) == 0.5 and plan.length(25) == 0.5  # the interval governs
    assert plan.length(64) == pytest.approx(64 / 50)  # 1.28 s, not 0.5
    peers = _keys(64)
    handed = _drive(plan, peers, until=10 * 1.28 - 1e-9)
    by_round = _rounds(handed, 1.28)
    assert len(by_round) == 10 and all(sorted(keys) == peers for keys in by_round.values())
    assert len(handed) / (10 * 1.28) <= MAX_RATE
    assert max(when for when, _ in handed) > 9 * 1.28  # the rounds did stretch: 12.8 s for 10


def test_an_empty_round_looks_again_within_a_second() -> None:
    for interval, again in ((10.0, 1.0), (3600.0, 1.0), (0.5, 0.5)):
        plan = Plan(interval, 64, random.Random(0))
        assert plan.due(100.0, []) == []
        assert plan.next_time() == plan.round_ends == 100.0 + again
    plan = Plan(10.0, 64, random.Random(0))
    plan.due(0.0, [])
    assert plan.due(0.5, ["a"]) == []  # within the empty round: not yet looked at
    plan.due(1.0, ["a"])  # the next round has it
    upcoming = plan.next_time()
    assert upcoming is not None and 1.0 <= upcoming <= 11.0 and plan.round_ends == 11.0


def test_peers_found_mid_round_wait_for_the_next() -> None:
    plan = Plan(1.0, 64, random.Random(2))
    plan.due(0.0, ["a"])
    handed = _drive(plan, ["a", "b"], until=1.999)
    assert [key for when, key in handed if when < 1.0] == ["a"]
    assert sorted(key for when, key in handed if when >= 1.0) == ["a", "b"]


def test_a_caller_late_past_the_rounds_end_still_gets_that_rounds_probes() -> None:
    """The prober wakes a little after each next_time() (a poll's timeout is rounded to the
    millisecond, and a thread is scheduled late): a probe due just before the round's end must
    still be sent, not skipped for the round."""
    peers = _keys(10)
    plan = Plan(1.0, 64, random.Random(1))
    handed = plan.due(0.0, peers)
    handed += plan.due(1.001, peers)  # every probe of round 0 was due by 1.0
    assert sorted(handed) == peers


def test_a_caller_a_millisecond_late_probes_every_peer_every_round() -> None:
    peers, plan = _keys(50), Plan(1.0, 64, random.Random(7))
    handed: list[str] = []
    ends: list[float] = []
    now = 0.0
    for _ in range(100_000):  # bounded: 200 rounds of 50 probes
        handed += plan.due(now, peers)
        if not ends or plan.round_ends != ends[-1]:
            ends.append(plan.round_ends or 0.0)
        if len(ends) > 200:  # round 201 has begun: the 200 before it have ended
            break
        upcoming = plan.next_time()
        assert upcoming is not None
        now = upcoming + 0.001
    turns = Counter(handed)
    assert len(ends) == 201 and all(turns[key] >= 200 for key in peers), turns
