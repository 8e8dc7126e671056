"""ping --all's view: the live table reads each session's observer, the fping lines and the
JSON documents say the same, and a daemon without a session says why."""

from __future__ import annotations

from pingctl.model import PingResult, Target
from pingctl.session import Session
from pingctl.show import board
from pingd.shared.protocol import Status

STATUS = Status.from_json({
    "count": 7, "node_id": "n1", "name": "alpha", "version": "0.1.0", "protocol": 1, "uptime_seconds": 61.0,
    "pings_served": 3, "durability": "periodic", "storage": "ok", "security": "plain", "curve_public_key": None,
})  # fmt: skip
TARGET = Target("127.0.0.1", 7464, name="alpha")


class _Client:
    def close(self):
        pass


def _lane(results):
    session = Session(_Client(), 0, 0.1)  # type: ignore[arg-type]
    _record(session, results)
    return board.Lane("alpha", TARGET.display, session, TARGET, STATUS)


def _record(session, results):
    for result in results:
        session.observer.record(result.seq, result)


def _pong(seq, rtt):
    return PingResult(seq, rtt_ms=rtt, count=100 + seq)


def test_the_live_row_sorts_only_what_is_new_and_keeps_exact_figures():
    lane = _lane([_pong(1, 0.2), PingResult(2), _pong(3, 0.4)])
    down = board.Lane("beta", "10.0.0.2:7464", error="no answer from pingd at 10.0.0.2:7464")
    header, row, why = board.rows([lane, down])
    assert header[:4] == ("NAME", "ADDRESS", "SENT", "RECV")
    assert row == ("alpha", "127.0.0.1:7464", "3", "2", "33%", "0.400", "0.300", "0.300", "0.400", "103", "")
    assert why[:3] == ("beta", "10.0.0.2:7464", "-") and why[-1].startswith("no answer")
    _record(lane.session, [_pong(4, 0.1), _pong(5, 0.3)])
    row = board.rows([lane])[1]
    # Had the first redraw's round trips been sorted in again, p50 would be 0.300.
    assert row[2:10] == ("5", "4", "20%", "0.300", "0.250", "0.250", "0.400", "105")
    assert board.rows([lane])[1] == row  # a redraw with nothing new changes nothing


def test_a_session_with_no_pong_yet_shows_dashes():
    row = board.rows([_lane([PingResult(1)])])[1]
    assert row[2:10] == ("1", "0", "100%", "-", "-", "-", "-", "-")


def test_fping_lines_align_and_say_why_a_daemon_has_no_session():
    lanes = [_lane([_pong(1, 0.2), _pong(2, 0.4)]), board.Lane("b", "?", error="not found by mDNS within 1 s")]
    ok, missing = board.summary_lines(lanes)
    assert ok.startswith("alpha (127.0.0.1:7464) : xmt/rcv/%loss = 2/2/0%, min/avg/max = 0.200/0.300/0.400")
    assert ok.endswith("p50 = 0.300 ms, count 102")
    assert missing == "b (?)" + " " * (len("alpha (127.0.0.1:7464)") - 5) + " : not found by mDNS within 1 s"
    silent = board.summary_lines([_lane([PingResult(1), PingResult(2)])])[0]
    assert silent.endswith("xmt/rcv/%loss = 2/0/100%")


def test_json_is_ping_json_per_daemon_and_an_error_for_the_others():
    lanes = [_lane([_pong(1, 0.2)]), board.Lane("b", "?", error="not found")]
    ok, missing = board.documents(lanes, samples=True)
    assert ok["server"] == {"address": "127.0.0.1", "port": 7464, "node_id": "n1", "name": "alpha"}
    assert (ok["sent"], ok["received"], ok["last_count"]) == (1, 1, 101)
    assert ok["samples"] == [{"seq": 1, "rtt_ms": 0.2, "count": 101, "error": None}]
    assert missing == {"name": "b", "address": "?", "error": "not found"}
    assert lanes[0].answered and not lanes[1].answered
    assert not _lane([PingResult(1), PingResult(2, rtt_ms=0.3, error="storage failed")]).answered


def test_interim_lines_cover_every_session():
    lines = board.interim_lines([_lane([_pong(1, 0.2), PingResult(2)]), board.Lane("b", "?", error="x")])
    assert lines == ["alpha: 1/2 pongs, 50% loss, rtt min/avg/max/mdev = 0.200/0.200/0.200/0.000 ms"]
