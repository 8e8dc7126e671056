"""Choosing a daemon and the trust policy: what is checked before connecting, what is pinned
after, and how a refused daemon shows in a fleet."""

from __future__ import annotations

import pytest

from pingctl import client, connect, fleet, trust
from pingctl.errors import NoAnswer, PingctlError, PinRefused
from pingctl.find import mdns
from pingctl.find.found import Found

KEY_A, KEY_B = "A" * 40, "B" * 40


def _found(name: str, key: str | None = None, node: str | None = None) -> Found:
    return Found(name, f"pingd-{name}.local", ("10.0.0.1",), 7464, node or f"id{name}", "0.1.0", "1", key)


class Answering:
    """A PingClient stand-in whose status request succeeds (the handshake went through)."""

    def __init__(self, target, timeout, context=None, client_keys=None):
        self.target = target

    def status(self, wait=None):
        return "status"

    def close(self):
        pass


class Silent(Answering):
    def status(self, wait=None):
        raise NoAnswer(self.target.display, 1.0, connected=True)


@pytest.fixture(autouse=True)
def config_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PINGCTL_CONFIG_DIR", str(tmp_path / "pingctl"))
    return tmp_path / "pingctl"


def test_several_daemons_found_says_which_was_chosen_and_how_to_choose(monkeypatch, capsys):
    monkeypatch.setattr(mdns, "find", lambda name, timeout, interfaces: (_found("alpha"), [_found("beta")]))
    monkeypatch.setattr(client, "PingClient", Answering)
    chosen, status = connect.connect(connect.Wanted(), 1.0, quiet=False)
    assert chosen.target.name == "alpha" and status == "status"
    note = capsys.readouterr().err
    assert "found several daemons; using 'alpha'" in note and "'beta'" in note and "--name NAME" in note
    connect.connect(connect.Wanted(), 1.0, quiet=True)
    assert capsys.readouterr().err == ""


def test_a_key_is_pinned_only_after_the_daemon_answered_through_it(monkeypatch, config_dir, capsys):
    """Holds off pinning an unproven key: an announcement alone (here, a daemon that never
    completes the exchange) writes nothing to known_hosts."""
    monkeypatch.setattr(mdns, "find", lambda name, timeout, interfaces: (_found("box", KEY_A), []))
    monkeypatch.setattr(client, "PingClient", Silent)
    with pytest.raises(NoAnswer):
        connect.connect(connect.Wanted(), 1.0, quiet=False)
    assert not (config_dir / "known_hosts").exists()
    monkeypatch.setattr(client, "PingClient", Answering)
    connect.connect(connect.Wanted(), 1.0, quiet=False)
    assert (config_dir / "known_hosts").read_text() == f"idbox {KEY_A} box\n"
    assert "trusting pingd 'box'" in capsys.readouterr().err


def test_a_pinned_name_offering_another_key_is_refused_before_any_contact(monkeypatch, config_dir):
    trust.record("box", "idbox", KEY_A)
    monkeypatch.setattr(mdns, "find", lambda name, timeout, interfaces: (_found("box", KEY_B), []))

    def never(*args, **kwargs):
        raise AssertionError("an impostor must not be contacted")

    monkeypatch.setattr(client, "PingClient", never)
    with pytest.raises(trust.KeyChanged, match="HAS CHANGED.*line 1"):
        connect.connect(connect.Wanted(), 1.0, quiet=False)


def test_an_impostor_is_one_row_and_the_rest_of_the_fleet_is_asked(monkeypatch, config_dir):
    """Holds off one impostor blinding `status --all` and `ping --all`: before, the whole
    command ended on the key-changed line with no rows."""
    trust.record("box", "idbox", KEY_A)
    monkeypatch.setattr(client, "PingClient", Answering)
    monkeypatch.setattr(fleet, "first_to_answer", lambda targets, *a: (Answering(targets[0], 1.0), "status"))
    found = [_found("alpha"), _found("box", KEY_B), _found("gamma", KEY_A, node="idgamma")]
    results = connect.reach_all(found, 1.0)
    assert [r.found.name for r in results] == ["alpha", "box", "gamma"]
    assert results[0].status == "status" and results[2].status == "status"
    assert isinstance(results[1].error, PinRefused) and results[1].client is None
    assert results[1].error.reason == "refused: its key differs from known_hosts line 1"
    # gamma answered through its key: pinned now, after the handshake.
    assert trust.check("gamma", "idgamma", KEY_A) is True


def test_server_key_must_be_the_announced_one():
    with pytest.raises(PingctlError, match="not the --server-key given"):
        connect.vet(_found("box", KEY_A), KEY_B, None)
    assert connect.vet(_found("box", KEY_A), KEY_A, None) is None
    assert connect.vet(_found("box"), None, None) is None  # plain: nothing to pin


def test_a_pinned_name_announced_without_a_key_is_refused_and_one_row_in_a_fleet(monkeypatch, config_dir):
    """Holds off the plaintext downgrade, alone and in a fleet."""
    trust.record("ghost", "idghost", KEY_A)
    with pytest.raises(trust.KeyDropped):
        connect.vet(_found("ghost"), None, None)
    assert connect.vet(_found("ghost"), KEY_A, None) is None  # --server-key decides by itself
    monkeypatch.setattr(fleet, "first_to_answer", lambda targets, *a: (Answering(targets[0], 1.0), "status"))
    results = connect.reach_all([_found("ghost"), _found("alpha")], 1.0)
    assert isinstance(results[0].error, PinRefused) and "announces no key" in results[0].error.reason
    assert results[1].status == "status"


def _registered(name: str) -> Found:
    return Found(
        name, f"pingd-{name}.example.org", ("10.0.0.1",), 7464, f"id{name}", "0.1.0", "1", domain="example.org"
    )


def test_registered_daemons_that_all_connect_and_never_answer_are_no_reply(monkeypatch):
    """The DNS path: every registered daemon took the connection and sent nothing back is
    NoReply (ping then ends as iputils ping does when no reply comes); any other failure among
    them stays a plain error."""
    from pingctl.errors import EXIT_ERROR, NoReply, Unreachable
    from pingctl.find import search

    monkeypatch.setattr(search, "find", lambda *a: ([_registered("a"), _registered("b")], "DNS"))
    monkeypatch.setattr(fleet, "first_to_answer", lambda targets, *a: (_ for _ in ()).throw(
        NoAnswer(targets[0].display, 1.0, connected=True)))  # fmt: skip
    with pytest.raises(NoReply, match="registered in example.org but did not answer.*connected, but got no pingd"):
        connect.connect(connect.Wanted(domain="example.org"), 1.0, quiet=True)

    def one_refuses(targets, *a):
        if targets[0].name == "b":
            raise Unreachable(targets[0].display, "connection refused")
        raise NoAnswer(targets[0].display, 1.0, connected=True)

    monkeypatch.setattr(fleet, "first_to_answer", one_refuses)
    with pytest.raises(PingctlError) as info:
        connect.connect(connect.Wanted(domain="example.org"), 1.0, quiet=True)
    assert not isinstance(info.value, NoReply) and info.value.exit_code == EXIT_ERROR
