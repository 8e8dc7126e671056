"""Fixtures shared by the whole suite: daemons that are always stopped, even on failure."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings
from xdist.remote import Producer
from xdist.scheduler import LoadScopeScheduling

from tests.support import isolation
from tests.support.processes import Daemon, base_env

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Property tests assert what holds, never how fast: hypothesis's per-example deadline (200 ms)
# is a timing test, and on a loaded 2-core machine an example may take longer.
settings.register_profile("pingd", deadline=None)
settings.load_profile("pingd")

# pingctl also browses the DNS domains the network suggests under the resolver's search
# domains; tests never ask the host's resolver. An empty LOCALDOMAIN means no search domains
# (as for the C library); the DNS tests give their client host its own resolver instead.
os.environ["LOCALDOMAIN"] = ""
# Nor the user's own pingctl directory: its known_hosts would carry pins from one run (or from
# the user's real daemons) into the next. Tests that need one of their own set it themselves.
os.environ["PINGCTL_CONFIG_DIR"] = tempfile.mkdtemp(prefix="pingctl-tests-")
atexit.register(shutil.rmtree, os.environ["PINGCTL_CONFIG_DIR"], True)


def pytest_configure(config: pytest.Config) -> None:
    """A pytest-xdist worker takes a network namespace of its own (tests/support/isolation.py);
    workers without root cannot, and would see each other's daemons on loopback."""
    if isolation.worker() is None:
        return
    if os.geteuid() != 0:
        raise pytest.UsageError("parallel workers (-n) need root, for a network namespace each; run without -n")
    isolation.own_network_namespace()


class _Scheduling(LoadScopeScheduling):
    """Each test file a work unit, run on one worker (its module fixtures, a rack or a fleet,
    are made once and its tests see them in order), and the systemd tests (tests/systemd/)
    one unit together: the package is built once, and no two boxes (each a systemd) boot side
    by side. The largest unit goes out first, so the boxes run beside the rest of the suite."""

    def _split_scope(self, nodeid: str) -> str:
        return "tests/systemd/" if nodeid.startswith("tests/systemd/") else nodeid.split("::", 1)[0]


def pytest_xdist_make_scheduler(config: pytest.Config, log: Producer) -> _Scheduling:
    return _Scheduling(config, log)


def pytest_runtest_setup(item):
    """Tests marked root skip on a laptop without root; under CI=true they must run."""
    if item.get_closest_marker("root") and os.geteuid() != 0:
        if IN_CI:
            pytest.fail("this test needs root, and under CI=true it must run")
        pytest.skip("needs root (runs under CI=true)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI=true a skipped test is a failed test: nothing may quietly not run there."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which counts as a failure: {report.longrepr}"


def require(why_not: str | None) -> None:
    """Skip on a laptop when a facility is missing; under CI=true, fail instead."""
    if why_not:
        if IN_CI:
            pytest.fail(f"required under CI=true: {why_not}")
        pytest.skip(why_not)


#: Tests whose processes run unmeasured under make test's coverage. coverage.py measures every
#: Python process the suite starts (pyproject.toml: [run] patch = ["subprocess"] hands them
#: COVERAGE_PROCESS_CONFIG); the flood tests hold pingd to wall-clock bounds while it sheds
#: hundreds of connections, and tracing it slowed exactly that past them (first pong 3.5 s
#: after the flood, against 3.0 s; one run in three of test_flood.py measured, none unmeasured).
#: The torture and scale tests run the code paths other tests measure, hundreds of thousands of
#: times or in a hundred processes at once: measured, they cost the suite time and nothing else.
UNMEASURED = (
    "tests/integration/test_flood.py::",
    "tests/integration/test_torture.py::",
    "tests/integration/test_scale.py::",
)


@pytest.fixture(autouse=True)
def unmeasured_processes(request, monkeypatch):
    """The processes an UNMEASURED test starts run without coverage: its environment (read by
    base_env when each process starts) loses coverage's variable for the test's duration."""
    if request.node.nodeid.startswith(UNMEASURED):
        monkeypatch.delenv("COVERAGE_PROCESS_CONFIG", raising=False)


@pytest.fixture(autouse=True)
def fresh_zmq_instance(monkeypatch):
    """Each test gets its own ``zmq.Context.instance()`` (pingctl's clients default to it), made
    on first use and destroyed after the test, as each pingctl process has its own. A context
    shared by the whole session carried state from one test into the next: twice in full CI
    runs, every client on it stopped connecting from one test on, while clients on their own
    contexts in the same tests worked."""
    import zmq

    monkeypatch.setattr(zmq.Context, "_instance", None)
    yield
    made = zmq.Context._instance
    if made is not None and not made.closed:
        made.destroy(linger=0)


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    d = tmp_path / "state"
    d.mkdir()
    return d


@pytest.fixture
def spawn_daemon(state_dir: Path):
    """Start pingd subprocesses on 127.0.0.1 (free port, no mDNS unless asked); kill at teardown."""
    started: list[Daemon] = []

    def spawn(
        *extra: str, state_file: Path | None = None, mdns: bool = False, wait_ready: bool = True, env=None, prefix=()
    ) -> Daemon:
        args = ["--bind", "127.0.0.1", "--port", "0", "--state-file", str(state_file or state_dir / "state.json")]
        if not mdns:
            args.append("--no-mdns")
        d = Daemon(args=[*args, *extra], env=env or base_env(), prefix=prefix)
        started.append(d)
        return d.start(wait_ready=wait_ready)

    yield spawn
    for d in started:
        d.kill()


@pytest.fixture
def network():
    """A fresh set of test hosts in network namespaces (root only); always removed."""
    from tests.support.netns import Network, available

    require(available())
    with Network() as net:
        yield net


@pytest.fixture
def avahi(tmp_path: Path):
    """Start Debian's avahi-daemon (with its own D-Bus) on a test host; always stopped."""
    from tests.support.avahi import Avahi, available

    require(available())
    started: list[Avahi] = []

    def start(host, host_name: str, ipv6: bool = False) -> Avahi:
        a = Avahi(host, host_name, tmp_path, ipv6=ipv6)
        started.append(a)
        return a.start()

    yield start
    for a in started:
        a.stop()
