"""Running pingctl in-process, as its console script does (``pingctl.cli.main``), against fake
daemons (``tests.support.fakes.ScriptedRouter``) and a discovery that finds what a test says."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from pingctl import cli
from pingctl.find import search
from pingctl.find.found import Browsed, Found
from pingd.shared import protocol
from tests.support import wire
from tests.support.fakes import ScriptedRouter

STATUS = {
    "count": 7, "node_id": "n1", "name": "box", "version": "0.1.0", "protocol": 1, "uptime_seconds": 61.0,
    "pings_served": 3, "durability": "periodic", "storage": "ok", "security": "plain", "curve_public_key": None,
}  # fmt: skip


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


@pytest.fixture(autouse=True)
def config_dir(tmp_path, monkeypatch):
    """known_hosts and the client's keys in a folder of the test's own."""
    monkeypatch.setenv("PINGCTL_CONFIG_DIR", str(tmp_path / "pingctl"))
    monkeypatch.delenv("NO_COLOR", raising=False)
    return tmp_path / "pingctl"


@pytest.fixture
def pingctl(capsys) -> Callable[..., Ran]:
    """``pingctl ARGS…`` in this process: its exit code, stdout and stderr."""

    def run(*args: str) -> Ran:
        with pytest.raises(SystemExit) as exit:
            cli.main(list(args))
        captured = capsys.readouterr()
        return Ran(int(exit.value.code or 0), captured.out, captured.err)

    return run


def status_reply(name: str = "box", count: int = 7) -> Callable[[int], list[bytes]]:
    return lambda seq: [protocol.encode_status_reply(seq, {**STATUS, "name": name, "count": count})]


def pong(count: int) -> Callable[[int], list[bytes]]:
    return lambda seq: [wire.pong(seq, count)]


@pytest.fixture
def daemon() -> Iterator[Callable[..., ScriptedRouter]]:
    """A fake daemon answering a status request, then each ping as scripted (None: silence)."""
    made: list[ScriptedRouter] = []

    def make(*pings: Callable[[int], list[bytes]] | None, name: str = "box") -> ScriptedRouter:
        router = ScriptedRouter([status_reply(name), *pings])
        made.append(router)
        return router

    yield make
    for router in made:
        router.close()


def found(name: str, port: int, address: str = "127.0.0.1") -> Found:
    return Found(name, f"pingd-{name}.local", (address,), port, f"id{name}", "0.1.0", "1")


@pytest.fixture
def discovered(monkeypatch) -> Callable[..., None]:
    """Discovery finds these daemons (and leaves out ``ignored``, ``unresolved``)."""

    def set_found(*daemons: Found, ignored: tuple[str, ...] = (), unresolved: int = 0) -> None:
        seen = Browsed(list(daemons), list(ignored), unresolved)
        monkeypatch.setattr(search, "browse", lambda timeout, interfaces, domain: seen)

    return set_found
