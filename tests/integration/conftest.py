"""The heartbeat trial: begun with the first integration test, checked by the last test run.

pingd drops a peer that ignores its heartbeats only after about 40 s (a PING command every 10 s,
30 s to answer one): a test that waited for it in line would add those 40 s to the suite. The
trial (``tests.support.zmtp.HeartbeatTrial``) starts on a daemon of its own with the first
integration test, and the test that checks it is moved to the end of the run.
"""

from __future__ import annotations

import pytest

from tests.support import asking
from tests.support.zmtp import HeartbeatTrial

CHECK = "test_a_zmtp_3_peer_that_ignores_heartbeats_is_dropped_and_one_that_answers_them_is_kept"


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """The heartbeat check runs last, whatever else runs."""
    items.sort(key=lambda item: item.name == CHECK)  # a stable sort: everything else keeps its order


@pytest.fixture(scope="session", autouse=True)
def heartbeat_trial(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Begun only when the check is among the tests to run."""
    if not any(item.name == CHECK for item in request.session.items):
        yield None
        return
    daemon = asking.start(tmp_path_factory.mktemp("heartbeats"))
    trial = HeartbeatTrial(daemon.port)
    trial.start()
    try:
        yield trial
    finally:
        trial.outcome(120)
        daemon.kill()
