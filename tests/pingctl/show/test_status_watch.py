"""status --watch: the rate between refreshes and what each refresh shows."""

from __future__ import annotations

from pingctl.client import Target
from pingctl.show import status_watch
from pingd.shared.protocol import Status

STATUS = Status(10, "abc", "box\x1b[2J", "0.1.0", 1, 65.0, 4, "periodic", "ok", "plain", None)


def test_the_rate_is_the_count_change_over_time():
    assert status_watch._rate(None, 10.0, 5) is None
    assert status_watch._rate((10.0, 5), 10.0, 9) is None
    assert status_watch._rate((10.0, 5), 12.0, 9) == 2.0


def test_a_refresh_as_a_line_a_panel_and_a_document():
    line = status_watch._line(STATUS, 2.0)
    assert "box\\x1b[2J: count 10 (+2.0/s), served 4, uptime 1m 5s, storage ok" in line
    assert "no answer" in status_watch._line(None, None)

    class Client:
        target = Target("127.0.0.1", 7464)

    [(panel, _)] = status_watch._panel(Client(), STATUS, 2.0)  # type: ignore[arg-type]
    assert "count        10" in panel and "rate         2.0 pings/s" in panel
    assert status_watch._document(STATUS, 2.0) == {**STATUS.to_json(), "rate_per_second": 2.0}
    assert status_watch._document(None, None) == {"error": "no answer", "rate_per_second": None}
