"""`pingctl ping`'s work in-process: what the live view shows of each result, SIGQUIT's interim
lines, and the sessions of several daemons started a fraction of the interval apart."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from pingctl import connect, fleet, multiplex, pinging
from pingctl.connect import WantedAll
from pingctl.find.found import Found
from pingctl.model import PingResult, Target
from pingctl.observer import Observer
from pingctl.session import Schedule
from pingctl.show import output
from pingd.shared.protocol import Status

TARGET = Target("127.0.0.1", 7464)
STATUS = Status(7, "n1", "box", "0.1.0", 1, 61.0, 3, "periodic", "ok", "plain", None)


class Recording(output.PlainOutput):
    """An output that keeps what it was asked to show."""

    def __init__(self, events: bool, panels: bool) -> None:
        self.shows_events, self.shows_panels = events, panels  # type: ignore[misc]
        self.shown: list[tuple[str, Any]] = []

    def event(self, text: str, *, failed: bool = False) -> None:
        self.shown.append(("event", (text, failed)))

    def panel(self, segments: output.Segments) -> None:
        self.shown.append(("panel", "".join(text for text, _ in segments)))


def test_an_output_that_shows_nothing_gets_no_listener():
    for out in (output.QuietOutput(), output.JsonOutput()):
        assert pinging.live_view(out, TARGET, Schedule(3, 0.0, 1.0), Observer()) is None


def test_the_live_view_shows_each_result_and_the_figures_with_it():
    out = Recording(events=True, panels=True)
    observer = Observer()
    observer.listener = pinging.live_view(out, TARGET, Schedule(3, 0.0, 0.5), observer)
    observer.record(1, PingResult(1, rtt_ms=0.25, count=41))
    observer.record(2, PingResult(2))
    (kind, (line, failed)), (_, bar), (_, (lost, lost_failed)), (_, bar2) = out.shown
    assert (kind, line, failed) == ("event", "pong from 127.0.0.1:7464: seq=1 count=41 time=0.250 ms", False)
    assert bar.startswith(" 1/3 ") and "server count 41" in bar and "loss 0.0%" in bar
    assert (lost, lost_failed) == ("no reply from 127.0.0.1:7464: seq=2 (timeout 0.5 s)", True)
    assert bar2.startswith(" 2/3 ") and "loss 50.0%" in bar2 and "server count 41" in bar2


def test_sigquit_prints_the_interim_lines_and_the_handler_is_put_back(capsys):
    before = signal.getsignal(signal.SIGQUIT)
    with pytest.raises(RuntimeError), pinging.interim_on_sigquit(lambda: "1/2 pongs"):
        signal.raise_signal(signal.SIGQUIT)
        raise RuntimeError("the block failed")
    assert capsys.readouterr().err == "1/2 pongs\n"
    assert signal.getsignal(signal.SIGQUIT) == before


class Client:
    def __init__(self, target: Target) -> None:
        self.target, self.closed = target, False

    def close(self) -> None:
        self.closed = True


def test_several_daemons_start_a_fraction_of_the_interval_apart_and_every_client_is_closed(monkeypatch, capsys):
    daemons = [Found(n, f"{n}.local", ("127.0.0.1",), 7000 + i, n, "0.1.0", "1") for i, n in enumerate("abcd")]
    answers = [fleet.DaemonStatus(f, f.targets()[0], STATUS, client=Client(f.targets()[0])) for f in daemons[:3]]
    answers.append(fleet.DaemonStatus(daemons[3]))  # announced, gave no status
    monkeypatch.setattr(pinging, "choose_all", lambda wanted: (daemons, []))
    monkeypatch.setattr(pinging, "reach_all", lambda found, timeout, context: answers)
    ran: list[list[float]] = []
    monkeypatch.setattr(multiplex, "run", lambda sessions, **kw: ran.append([s.offset for s in sessions]))
    code = pinging.ping(WantedAll(), Schedule(5, 0.3, 1.0), pinging.View())
    assert ran == [pytest.approx([0.0, 0.1, 0.2])]  # one session per daemon that answered
    assert all(a.client is not None and a.client.closed for a in answers[:3])  # type: ignore[attr-defined]
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["box", "box", "box", "d"] and code == 1


def test_choose_all_keeps_the_order_of_the_names_given_and_names_the_missing(monkeypatch):
    daemons = [Found(n, f"{n}.local", ("127.0.0.1",), 7000, n, "0.1.0", "1") for n in ("a", "B", "c")]
    monkeypatch.setattr(connect, "browse", lambda window, interfaces, domain: type("B", (), {"found": daemons}))
    found, missing = connect.choose_all(WantedAll(("c", "b", "zed", "C")))
    assert [f.name for f in found] == ["c", "B"] and missing == ["zed"]


def test_a_daemon_that_connects_and_never_answers_ends_ping_with_exit_1():
    """As iputils ping when no reply comes: the connection was taken, nothing came back."""
    from pingctl.connect import Wanted
    from pingctl.errors import EXIT_NO_REPLY, PingctlError
    from tests.support.fakes import fake_router

    with fake_router(lambda frame: None) as port, pytest.raises(PingctlError) as info:
        pinging.ping(Wanted(server_ip="127.0.0.1", port=port), Schedule(3, 0.0, 0.3), pinging.View(json_output=True))
    assert info.value.exit_code == EXIT_NO_REPLY
    assert "no answer from pingd at 127.0.0.1:" in str(info.value) and "connected, but got no pingd reply" in str(
        info.value
    )


def test_a_port_nothing_listens_on_stays_an_error_not_a_missing_reply():
    from pingctl.connect import Wanted
    from pingctl.errors import Unreachable
    from tests.support.processes import refusing_port

    with refusing_port() as port, pytest.raises(Unreachable):
        pinging.ping(Wanted(server_ip="127.0.0.1", port=port), Schedule(3, 0.0, 0.3), pinging.View())


def test_domain_daemons_that_never_answer_end_ping_with_exit_1(monkeypatch):
    from pingctl.connect import Wanted
    from pingctl.errors import EXIT_NO_REPLY, NoReply, PingctlError

    def silent(wanted, timeout, quiet, context):
        raise NoReply("pingd 'a' is registered in example.org but did not answer: …")

    monkeypatch.setattr(pinging, "connect", silent)
    with pytest.raises(PingctlError) as info:
        pinging.ping(Wanted(domain="example.org"), Schedule(3, 0.0, 0.3), pinging.View())
    assert info.value.exit_code == EXIT_NO_REPLY and "registered in example.org" in str(info.value)
