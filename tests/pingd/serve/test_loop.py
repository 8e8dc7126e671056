"""The request loop in-process: a ROUTER over inproc, the real actor and persistence, a fake
store and a clock the test moves. Each turn is either driven by the test (``answer``) or run on
a thread of its own (``run``), synchronised on replies and events, never on sleeps."""

from __future__ import annotations

import contextlib
import errno
import itertools
import logging
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import zmq

from pingd.serve import loop, persistence
from pingd.serve.counter import CounterActor, Identity
from pingd.serve.loop import MAX_BATCH, Loop
from pingd.serve.persistence import Persistence
from pingd.shared import protocol
from pingd.shared.protocol import ErrorCode, ErrorReply, Pong, StatusReply
from tests.support import wire
from tests.support.processes import wait_for

_endpoints = itertools.count()


class FakeStore:
    path = Path("/state/state.json")

    def __init__(self) -> None:
        self.recorded: list[int] = []
        self.synced: list[int] = []
        self.failing = False
        self.on_record: Callable[[], None] = lambda: None

    @property
    def needs_sync(self) -> bool:
        return bool(self.recorded) and (not self.synced or self.synced[-1] != self.recorded[-1])

    def record(self, count: int) -> None:
        self.on_record()
        if self.failing:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.recorded.append(count)

    def sync(self) -> None:
        if self.failing:
            raise OSError(errno.EIO, "Input/output error")
        self.synced.append(self.recorded[-1])


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class World:
    context: zmq.Context
    router: zmq.Socket
    endpoint: str
    store: FakeStore
    clock: Clock
    actor: CounterActor
    loop: Loop
    clients: list[zmq.Socket] = field(default_factory=list)
    thread: threading.Thread | None = None
    ticks: list[float] = field(default_factory=list)

    def client(self, kind: int = zmq.DEALER) -> zmq.Socket:
        sock = self.context.socket(kind)
        sock.linger = 0
        sock.rcvtimeo = 5000  # a deadline for a reply that never comes, not a wait
        sock.connect(self.endpoint)
        self.clients.append(sock)
        return sock

    def turn(self) -> None:
        """One turn driven by the test: the first waiting message, and the batch behind it."""
        self.loop.answer(self.router.recv_multipart())

    def start(self, every: float = 5.0) -> threading.Thread:
        """Run the loop on its own thread; its on_tick notes the time and asks again ``every`` s."""

        def on_tick(now: float) -> float:
            self.ticks.append(now)
            return now + every

        self.thread = threading.Thread(target=self.loop.run, args=(on_tick,))
        self.thread.start()
        return self.thread

    def settle(self) -> None:
        """Return once the running loop has run every task handed over before this call."""
        done = threading.Event()
        self.loop.call_soon(done.set)
        assert done.wait(5), "the loop did not take its next turn"

    def full_turn(self, client: zmq.Socket) -> None:
        """Return once the running loop has taken a whole turn, timers included, begun after
        this call: a STATUS is answered after that turn's tasks, and a task handed over after
        the answer runs in a later turn, so that turn's timers have run by then."""
        client.send(protocol.encode_status_request(1))
        client.recv()
        self.settle()


@contextlib.contextmanager
def _make(always: bool = False, count: int = 0) -> Iterator[World]:
    context = zmq.Context()
    router = context.socket(zmq.ROUTER)
    router.linger = 0
    router.rcvtimeo = 5000
    endpoint = f"inproc://test-loop-{next(_endpoints)}"
    router.bind(endpoint)
    store, clock = FakeStore(), Clock()
    actor = CounterActor(count=count, identity=Identity("n0de", "box", "9.9", "periodic"), started_at=clock())
    loop = Loop(
        router, actor, Persistence(store, actor, always=always, clock=clock), announced=lambda: "mdns: ok", clock=clock
    )
    world = World(context, router, endpoint, store, clock, actor, loop)
    try:
        yield world
    finally:
        if world.thread is not None:
            world.loop.stop()
            world.thread.join(10)
            assert not world.thread.is_alive()
        for sock in world.clients:
            sock.close(0)
        router.close(0)
        context.term()


@pytest.fixture
def world() -> Iterator[World]:
    with _make() as made:
        yield made


@pytest.fixture
def always() -> Iterator[World]:
    with _make(always=True) as made:
        yield made


# -- receive → count → persist → answer -----------------------------------------------------------


def test_a_ping_is_counted_persisted_and_then_answered_with_its_own_sequence(world: World) -> None:
    client = world.client()
    replied_before_persisting: list[int] = []
    world.store.on_record = lambda: replied_before_persisting.append(client.poll(0))
    client.send(protocol.encode_ping(0x0102030405060708))
    world.turn()
    assert client.recv() == wire.pong(0x0102030405060708, 1)
    assert world.store.recorded == [1] and replied_before_persisting == [0]
    assert (world.actor.count, world.actor.committed, world.actor.served) == (1, 1, 1)


def test_pings_from_a_req_socket_are_answered_after_the_delimiter(world: World) -> None:
    """A REQ socket drops a reply without the empty delimiter frame: a reply at all proves it."""
    client = world.client(zmq.REQ)
    for seq, count in ((5, 1), (6, 2)):
        client.send(protocol.encode_ping(seq))
        world.turn()
        assert protocol.decode_reply(client.recv()) == Pong(seq, count)
    client.send(protocol.encode_status_request(7))
    world.turn()
    reply = protocol.decode_reply(client.recv())
    assert isinstance(reply, StatusReply) and reply.seq == 7 and reply.status.count == 2


def test_status_reports_the_committed_count_identity_and_announcement(world: World) -> None:
    client = world.client()
    client.send(protocol.encode_ping(1))
    world.turn()
    client.recv()
    world.clock.now += 2.5
    client.send(protocol.encode_status_request(9))
    world.turn()
    reply = protocol.decode_reply(client.recv())
    assert isinstance(reply, StatusReply) and reply.seq == 9
    status = reply.status
    assert (status.count, status.pings_served, status.name, status.node_id) == (1, 1, "box", "n0de")
    assert status.uptime_seconds == 2.5 and status.announced == "mdns: ok" and status.storage == "ok"
    assert world.actor.served == 1  # a STATUS is not a ping


@pytest.mark.parametrize(
    "frames, code, seq",
    [
        ([protocol.encode_ping(9), b"extra"], ErrorCode.MALFORMED, 9),  # two frames: seq of the first
        ([b"hello"], ErrorCode.MALFORMED, 0),
        ([b"PD\x02\x01" + (7).to_bytes(8, "big")], ErrorCode.UNSUPPORTED_VERSION, 7),
        ([b"PD\x01\x09" + (8).to_bytes(8, "big")], ErrorCode.NOT_A_REQUEST, 8),
        ([wire.pong(4, 1)], ErrorCode.NOT_A_REQUEST, 4),  # a reply sent as a request
        ([protocol.encode_ping(3) + b"\x00"], ErrorCode.MALFORMED, 3),  # a PING with a body
        ([b"", protocol.encode_ping(2), b"x"], ErrorCode.MALFORMED, 2),  # after a delimiter, still two
    ],
)
def test_what_is_not_a_request_gets_its_error_and_counts_nothing(
    world: World, frames: list[bytes], code: ErrorCode, seq: int
) -> None:
    client = world.client()
    client.send_multipart(frames)
    world.turn()
    *envelope, frame = client.recv_multipart()
    assert envelope == frames[:1] if frames[0] == b"" else envelope == []  # a delimiter comes back
    reply = protocol.decode_reply(frame)
    assert isinstance(reply, ErrorReply) and (reply.code, reply.seq) == (code, seq)
    assert world.actor.count == 0 and world.store.recorded == []


def test_an_empty_frame_is_malformed_with_sequence_zero(world: World) -> None:
    client = world.client()
    client.send(b"")  # the ROUTER sees [peer, b""]: a one-frame request, empty
    world.turn()
    reply = protocol.decode_reply(client.recv())
    assert isinstance(reply, ErrorReply) and (reply.code, reply.seq) == (ErrorCode.MALFORMED, 0)


def test_pings_while_storage_fails_are_refused_not_counted_and_counting_resumes(world: World) -> None:
    client = world.client()
    world.store.failing = True
    for seq in (1, 2):
        client.send(protocol.encode_ping(seq))
        world.turn()
        reply = protocol.decode_reply(client.recv())
        assert isinstance(reply, ErrorReply) and (reply.code, reply.seq) == (ErrorCode.STORAGE_FAILED, seq)
        assert "not counted" in reply.text and "No space left" in reply.text
    assert world.actor.count == 0 and world.actor.served == 0
    world.store.failing = False
    client.send(protocol.encode_ping(3))
    world.turn()
    assert protocol.decode_reply(client.recv()) == Pong(3, 1)


@pytest.mark.parametrize("kind", [zmq.DEALER, zmq.REQ])
def test_a_ping_at_the_largest_count_is_refused_whichever_way_it_came(kind: int) -> None:
    with _make(count=protocol.MAX_COUNT) as world:
        client = world.client(kind)
        client.send(protocol.encode_ping(11))
        world.turn()
        reply = protocol.decode_reply(client.recv())
        assert isinstance(reply, ErrorReply) and (reply.code, reply.seq) == (ErrorCode.COUNT_EXHAUSTED, 11)
        assert world.actor.count == protocol.MAX_COUNT and world.store.recorded == []
        assert world.loop.errors[ErrorCode.COUNT_EXHAUSTED] == 1  # for the metrics


# -- the batch ------------------------------------------------------------------------------------


def _send_pings(client: zmq.Socket, n: int) -> None:
    for seq in range(1, n + 1):
        client.send(protocol.encode_ping(seq))


def test_with_sync_always_what_waits_is_answered_after_one_commit(always: World) -> None:
    client = always.client()
    _send_pings(client, 5)
    always.turn()
    assert always.store.recorded == [5] and always.store.synced == [5]  # group commit: one of each
    assert [protocol.decode_reply(client.recv()) for _ in range(5)] == [Pong(s, s) for s in range(1, 6)]
    batches = always.loop.batches.snapshot()  # for the metrics: one batch of 5
    assert (batches.count, batches.total) == (1, 5) and dict(batches.buckets)[4.0] == 0


def test_a_batch_stops_at_max_batch(always: World) -> None:
    client = always.client()
    _send_pings(client, MAX_BATCH + 3)
    always.turn()
    assert always.store.recorded == [MAX_BATCH]
    always.turn()
    assert always.store.recorded == [MAX_BATCH, MAX_BATCH + 3]
    replies = [protocol.decode_reply(client.recv()) for _ in range(MAX_BATCH + 3)]
    assert replies == [Pong(s, s) for s in range(1, MAX_BATCH + 4)]


def test_a_failed_group_commit_refuses_the_whole_batch(always: World) -> None:
    client = always.client()
    always.store.failing = True
    _send_pings(client, 3)
    always.turn()
    replies = [protocol.decode_reply(client.recv()) for _ in range(3)]
    assert [(r.code, r.seq) for r in replies if isinstance(r, ErrorReply)] == [
        (ErrorCode.STORAGE_FAILED, s) for s in (1, 2, 3)
    ]
    assert always.actor.count == 0
    assert always.loop.errors[ErrorCode.STORAGE_FAILED] == 3 and always.loop.persistence.failures == 1


def _batch_of_mixed_requests(client: zmq.Socket) -> None:
    """PING 1, STATUS 2, a bad request 3, PING 4, STATUS 5: waiting together, one batch."""
    client.send(protocol.encode_ping(1))
    client.send(protocol.encode_status_request(2))
    client.send(b"PD\x01\x09" + (3).to_bytes(8, "big"))
    client.send(protocol.encode_ping(4))
    client.send(protocol.encode_status_request(5))


def test_with_sync_always_a_batch_is_answered_in_the_order_of_its_requests(always: World) -> None:
    client = always.client()
    _batch_of_mixed_requests(client)
    always.turn()
    assert always.store.synced == [2]  # one batch, one commit
    replies = [protocol.decode_reply(client.recv()) for _ in range(5)]
    assert [(type(r).__name__, r.seq) for r in replies] == [
        ("Pong", 1), ("StatusReply", 2), ("ErrorReply", 3), ("Pong", 4), ("StatusReply", 5)
    ]  # fmt: skip


def test_with_sync_always_a_status_reports_the_count_its_batch_committed(always: World) -> None:
    """Never less than the PONG of a PING before it on its connection: the batch's count."""
    client = always.client()
    _batch_of_mixed_requests(client)
    always.turn()
    replies = {r.seq: r for r in (protocol.decode_reply(client.recv()) for _ in range(5))}
    statuses = [replies[2], replies[5]]
    assert all(isinstance(s, StatusReply) for s in statuses)
    assert [(s.status.count, s.status.pings_served) for s in statuses if isinstance(s, StatusReply)] == [(2, 2)] * 2
    assert replies[1] == Pong(1, 1) and replies[4] == Pong(4, 2)


def test_a_failed_group_commit_refuses_its_pings_in_their_places(always: World) -> None:
    client = always.client()
    always.store.failing = True
    _batch_of_mixed_requests(client)
    always.turn()
    replies = [protocol.decode_reply(client.recv()) for _ in range(5)]
    assert [r.seq for r in replies] == [1, 2, 3, 4, 5]
    assert [r.code for r in replies if isinstance(r, ErrorReply)] == [
        ErrorCode.STORAGE_FAILED, ErrorCode.NOT_A_REQUEST, ErrorCode.STORAGE_FAILED
    ]  # fmt: skip
    status = replies[1]
    assert isinstance(status, StatusReply) and status.status.count == 0
    assert status.status.storage.startswith("cannot write the state file")


def test_without_sync_always_one_message_per_turn(world: World) -> None:
    client = world.client()
    _send_pings(client, 3)
    world.turn()
    assert world.store.recorded == [1]
    assert protocol.decode_reply(client.recv()) == Pong(1, 1)
    assert not client.poll(0)  # the two others wait for their turns
    world.turn()
    world.turn()
    assert world.store.recorded == [1, 2, 3]


# -- the main loop: other threads, timers, the idle-peer hook ---------------------------------------


def test_tasks_run_on_the_loop_thread_and_a_failing_one_is_one_line(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="pingd")
    thread = world.start()
    ran_on: list[int] = []

    def failing() -> None:
        raise RuntimeError("injected")

    world.loop.call_soon(failing)
    world.loop.call_soon(lambda: ran_on.append(threading.get_ident()))
    world.settle()
    assert ran_on == [thread.ident]
    assert [r.getMessage() for r in caplog.records] == ["an internal task failed, serving on: RuntimeError: injected"]
    client = world.client()
    client.send(protocol.encode_ping(1))
    assert protocol.decode_reply(client.recv()) == Pong(1, 1)  # the wake-ups were not counted


def test_stop_and_call_soon_wake_the_loop_at_once(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loop, "TICK_MS", 60_000)  # a receive that only a wake-up ends within the test
    thread = world.start()
    for _ in range(20):  # each woke it, however soon after the one before
        world.settle()
    world.loop.stop()
    thread.join(5)
    assert not thread.is_alive()


def test_on_tick_is_called_at_start_and_then_only_when_due(world: World) -> None:
    client = world.client()
    world.start(every=5.0)
    world.full_turn(client)
    assert world.ticks == [1000.0]
    world.clock.now = 1004.9
    world.full_turn(client)
    world.full_turn(client)
    assert world.ticks == [1000.0]  # not due: not called, however many turns
    world.clock.now = 1005.0
    world.full_turn(client)
    assert world.ticks == [1000.0, 1005.0]


def test_the_timers_turn_without_any_traffic(world: World) -> None:
    world.start(every=5.0)
    world.settle()
    world.clock.now += 5.0
    wait_for(lambda: len(world.ticks) == 2, 5, "a quiet turn to call on_tick")


def test_the_loop_drives_the_periodic_sync(world: World) -> None:
    client = world.client()
    world.start()
    client.send(protocol.encode_ping(1))
    client.recv()
    world.full_turn(client)
    assert world.store.recorded == [1] and world.store.synced == []
    world.clock.now += persistence.SYNC_DELAY
    world.full_turn(client)
    assert world.store.synced == [1]


def test_the_idle_peer_hook_receives_while_set_and_not_after(world: World) -> None:
    client = world.client()
    noted: list[bytes] = []

    def noting(flags: int = 0) -> list[bytes]:
        frames = world.router.recv_multipart(flags)
        noted.append(frames[0])
        return frames

    world.start()
    world.loop.call_soon(lambda: world.loop.watch_peers(noting))
    world.settle()
    client.send(protocol.encode_ping(1))
    assert protocol.decode_reply(client.recv()) == Pong(1, 1)
    peers = [p for p in noted if not p.startswith(b"pingd-wake-")]
    assert len(peers) == 1  # the ping came through the hook
    world.loop.call_soon(lambda: world.loop.watch_peers(None))
    world.settle()
    before = len(noted)
    client.send(protocol.encode_ping(2))
    assert protocol.decode_reply(client.recv()) == Pong(2, 2)
    world.settle()
    assert len(noted) == before  # the socket's own receive again


def test_once_wake_ups_are_closed_no_socket_is_made_for_one(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """libzmq aborts the process when a socket is made while another thread terminates the
    context: a call_soon racing pingd's stop did that now and then. Once the daemon closes the
    wake-ups (before it terminates the context), wake() makes no socket at all."""
    made: list[int] = []
    real_socket = world.context.socket

    def counting(kind: int) -> zmq.Socket:
        made.append(kind)
        return real_socket(kind)

    monkeypatch.setattr(world.context, "socket", counting)
    world.loop.wake()
    assert made == [zmq.DEALER]
    world.loop.close_wakes()
    world.loop.wake()
    world.loop.call_soon(lambda: None)
    assert made == [zmq.DEALER]


# -- sleeping until something is due ----------------------------------------------------------------


def test_a_sleep_ends_at_its_deadline_never_a_moment_early() -> None:
    assert loop.sleep_ms(1.0) == 1000
    assert loop.sleep_ms(0.0101) == 11  # rounded up: woken early, it would have to sleep again
    assert loop.sleep_ms(0.0) == 1 and loop.sleep_ms(-3.0) == 1  # overdue: a receive that still waits
    assert loop.sleep_ms(math.inf) == loop.MAX_SLEEP_MS == loop.sleep_ms(10_000.0)


def test_a_quiet_loop_sleeps_until_its_next_deadline_and_a_busy_one_ticks(world: World) -> None:
    client = world.client()
    world.start(every=5.0)
    wait_for(lambda: world.loop.timeout_ms == 5000, 5, "a quiet loop to sleep until its next tick")
    world.clock.now += 1.25
    world.settle()  # a task: a message, then a quiet receive that looks at the clock again
    wait_for(lambda: world.loop.timeout_ms == 3750, 5, "the sleep to be measured from the loop's own clock")
    client.send(protocol.encode_ping(1))
    client.recv()
    # Counted: the periodic sync is due SYNC_DELAY after the write, before the next tick.
    wait_for(lambda: world.loop.timeout_ms == int(persistence.SYNC_DELAY * 1000), 5, "a sleep until the sync")
    world.clock.now += persistence.SYNC_DELAY
    world.settle()
    wait_for(lambda: world.store.synced == [1], 5, "the sync when its time came")
    wait_for(lambda: world.loop.timeout_ms == 3250, 5, "then a sleep until the tick again")
    assert world.ticks == [1000.0]


# -- PROBE and PEERS: a peer's probe is answered and never counted; the table is the mesh's ------

_TABLE = {
    "mesh": True,
    "interval_seconds": 10.0,
    "window_seconds": 30.0,
    "peers_known": 1,
    "peers": [
        {
            "name": "other",
            "node_id": "0123456789abcdef",
            "address": "127.0.0.1",
            "port": 7464,
            "probes": 5,
            "lost": 1,
            "recent_probes": 3,
            "recent_lost": 0,
            "p50_seconds": 0.0003,
            "p90_seconds": 0.0004,
            "last_error": "no reply within 1 s",
            "last_probe_seconds_ago": 1.5,
        }
    ],
}


@contextlib.contextmanager
def _meshed(table: Callable[[], dict], mesh: Callable[[], str | None], always: bool = False) -> Iterator[World]:
    """A world whose loop answers PEERS from ``table`` and says ``mesh`` in STATUS."""
    with _make(always=always) as world:
        world.loop = Loop(
            world.router,
            world.actor,
            world.loop.persistence,
            announced=lambda: "mdns: ok",
            peer_table=table,
            mesh=mesh,
            clock=world.clock,
        )
        yield world


def test_a_probe_is_answered_without_moving_the_count_or_pings_served(world: World) -> None:
    client = world.client()
    client.send(protocol.encode_ping(1))
    world.turn()
    client.recv()
    for seq in (2, 3, 4):
        client.send(protocol.encode_probe(seq))
        world.turn()
        assert protocol.decode_reply(client.recv()) == protocol.ProbeReply(seq)
    assert (world.actor.count, world.actor.served, world.store.recorded) == (1, 1, [1])
    assert world.loop.probes_served == 3 and world.loop.status_requests == 0
    client.send(protocol.encode_status_request(5))
    world.turn()
    reply = protocol.decode_reply(client.recv())
    assert isinstance(reply, StatusReply)
    assert (reply.status.count, reply.status.pings_served, reply.status.probes_served) == (1, 1, 3)


def test_with_sync_always_a_probe_alone_costs_no_write_and_no_fdatasync(always: World) -> None:
    client = always.client()
    client.send(protocol.encode_probe(7))
    always.turn()
    assert protocol.decode_reply(client.recv()) == protocol.ProbeReply(7)
    assert always.store.recorded == [] and always.store.synced == []
    client.send(protocol.encode_ping(8))  # the check can fail: a ping does write and sync
    always.turn()
    client.recv()
    assert always.store.recorded == [1] and always.store.synced == [1]


def test_a_probe_with_a_body_is_malformed_and_not_served(world: World) -> None:
    client = world.client()
    client.send(protocol.encode_probe(9) + b"\x00")
    world.turn()
    reply = protocol.decode_reply(client.recv())
    assert isinstance(reply, ErrorReply) and (reply.code, reply.seq) == (ErrorCode.MALFORMED, 9)
    assert world.loop.probes_served == 0


def test_peers_is_answered_with_the_table_as_it_is_when_answered() -> None:
    tables = [_TABLE]
    with _meshed(lambda: tables[-1], lambda: "probing 1 of 1 peers every 10 s") as world:
        client = world.client()
        client.send(protocol.encode_peers_request(11))
        world.turn()
        assert protocol.decode_reply(client.recv()) == protocol.PeersReply(11, _TABLE)
        tables.append(_TABLE | {"peers_known": 0, "peers": []})
        client.send(protocol.encode_peers_request(12))
        world.turn()
        assert protocol.decode_reply(client.recv()) == protocol.PeersReply(12, tables[-1])
        assert world.loop.peers_requests == 2 and world.loop.probes_served == 0
        assert world.actor.count == 0 and world.actor.served == 0


def test_status_carries_what_the_mesh_does_and_probes_served() -> None:
    with _meshed(lambda: _TABLE, lambda: "probing 1 of 1 peers every 10 s") as world:
        client = world.client()
        client.send(protocol.encode_probe(1))
        client.send(protocol.encode_status_request(2))
        world.turn()
        world.turn()
        assert protocol.decode_reply(client.recv()) == protocol.ProbeReply(1)
        reply = protocol.decode_reply(client.recv())
        assert isinstance(reply, StatusReply)
        assert (reply.status.mesh, reply.status.probes_served) == ("probing 1 of 1 peers every 10 s", 1)


def test_without_a_mesh_status_leaves_the_mesh_key_out(world: World) -> None:
    client = world.client()
    client.send(protocol.encode_status_request(3))
    world.turn()
    frame = client.recv()
    assert b'"mesh"' not in frame and b'"probes_served":0' in frame
    reply = protocol.decode_reply(frame)
    assert isinstance(reply, StatusReply) and reply.status.mesh is None


def test_a_daemon_without_mesh_answers_peers_with_the_no_mesh_table() -> None:
    from pingd.mesh.prober import table_of

    with _meshed(table_of(None), lambda: None) as world:
        client = world.client()
        client.send(protocol.encode_peers_request(4))
        world.turn()
        reply = protocol.decode_reply(client.recv())
        assert isinstance(reply, protocol.PeersReply) and reply.table["mesh"] is False and reply.table["peers"] == []
