"""`pingctl discover`'s work in-process: the watched list, and names from the network escaped."""

from __future__ import annotations

from collections.abc import Iterator

from pingctl import listing
from pingctl.find import watch
from pingctl.find.found import Found


def _found(name: str, port: int = 7464) -> Found:
    return Found(name, f"{name}.local", ("127.0.0.1",), port, "n1", None, "1")


def test_the_watched_list_is_sorted_by_name_whatever_the_case():
    present = {n: _found(n) for n in ("beta", "Alpha", "gamma")}
    rows = listing.present_rows(present)
    assert rows[0] == listing.HEADER
    assert [row[0] for row in rows[1:]] == ["Alpha", "beta", "gamma"]
    assert rows[1][3] == "?"  # no version announced


def test_a_name_from_the_network_is_printed_escaped(monkeypatch, capsys):
    def events(interfaces: tuple[str, ...]) -> Iterator[Found | str]:
        yield _found("evil\x1b[2J")
        yield "evil\x1b[2J"

    monkeypatch.setattr(watch, "watch", events)
    assert listing.discover(1.0, (), None, json_output=False, watch=True) == 0
    assert capsys.readouterr().out.splitlines() == ["+ evil\\x1b[2J 127.0.0.1:7464 n1 ?", "- evil\\x1b[2J"]
