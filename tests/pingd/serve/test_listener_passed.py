"""A listening socket passed by systemd: described at once, adopted by the ROUTER only when
pingd starts serving, with pingd's own listen backlog."""

from __future__ import annotations

import socket
import struct

import zmq

from pingd import config as config_mod
from pingd.serve import descriptors
from pingd.serve.listener import adopt, open_socket
from tests.support.processes import wait_for


def _queue(listener: socket.socket) -> tuple[int, int]:
    """(connections waiting to be accepted, the backlog): TCP_INFO of a listening socket."""
    info = listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    return struct.unpack_from("=II", info, 24)  # tcpi_unacked, tcpi_sacked


def test_a_passed_socket_is_adopted_only_when_serving_starts():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4096)  # systemd-socket-activate's: SOMAXCONN
    port = listener.getsockname()[1]
    context = zmq.Context()
    config = config_mod.resolve({"bind": "127.0.0.1", "port": 0}, {}, {})
    sock, listening = open_socket(context, config, [listener.fileno()])
    client = context.socket(zmq.DEALER)
    try:
        assert listening.passed and listening.fd == listener.fileno() and listening.port == port
        assert listening.bound == f"tcp://127.0.0.1:{port}" and listening.addresses == ("127.0.0.1",)
        client.linger = 0
        client.connect(f"tcp://127.0.0.1:{port}")
        client.send(b"waiting")
        # Until adopted, a connection waits in the kernel's queue: libzmq has not taken it.
        wait_for(lambda: _queue(listener)[0] == 1, 5, "the connection to wait in the listen queue")
        adopt(sock, listening)
        listener_fd = listener.detach()  # libzmq's now: it closes it with the ROUTER
        listener = socket.socket(fileno=socket.dup(listener_fd))  # to read its queue, a copy
        sock.rcvtimeo = 5000
        assert sock.recv_multipart()[1] == b"waiting"
        assert _queue(listener) == (0, descriptors.BACKLOG)
    finally:
        client.close(0)
        sock.close(0)
        context.term()
        listener.close()
