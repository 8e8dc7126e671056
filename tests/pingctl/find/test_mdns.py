"""The one-shot mDNS querier's question schedule, without a network."""

from __future__ import annotations

import itertools

from pingctl.find import mdns


def test_questions_come_often_at_first_then_every_second():
    times = list(itertools.islice(mdns.question_times(), 12))
    assert times[:3] == [0.0, 0.25, 0.5] and times[7] == 1.75
    assert times[8:] == [2.0, 3.0, 4.0, 5.0]
