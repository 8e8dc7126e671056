"""`pingctl status`'s work in-process: a watched status ends on Ctrl-C with its connection closed."""

from __future__ import annotations

from pingctl import querying
from pingctl.connect import Wanted
from pingctl.errors import EXIT_OK


class Client:
    closed = False

    def close(self) -> None:
        self.closed = True


def test_ctrl_c_ends_a_watch_quietly_and_closes_the_connection(monkeypatch):
    client = Client()
    watched: list[float] = []

    def watch(client: Client, info: str, every: float, out: object) -> None:
        watched.append(every)
        raise KeyboardInterrupt

    monkeypatch.setattr(querying, "connect", lambda wanted, timeout, quiet: (client, "status"))
    monkeypatch.setattr(querying, "watch_status", watch)
    assert querying.status(Wanted(server_ip="127.0.0.1"), 1.0, json_output=False, watch=2.5) == EXIT_OK
    assert watched == [2.5] and client.closed
