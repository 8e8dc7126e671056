"""The listening socket: where it binds, the options that meet the network, and clear errors."""

from __future__ import annotations

import pytest
import zmq

from pingd import config as config_mod
from pingd.errors import EXIT_LISTEN, StartupError
from pingd.serve import descriptors
from pingd.serve.listener import open_socket
from pingd.shared import protocol


@pytest.fixture
def context():
    ctx = zmq.Context()
    yield ctx
    ctx.term()


def test_binds_where_asked_with_the_options_that_matter(context):
    config = config_mod.resolve({"bind": "127.0.0.1", "port": 0}, {}, {})
    sock, listening = open_socket(context, config, [])
    try:
        assert listening.addresses == ("127.0.0.1",) and listening.port > 0 and not listening.passed
        assert listening.endpoints == [f"tcp://127.0.0.1:{listening.port}"]
        assert sock.maxmsgsize == protocol.MAX_REQUEST_SIZE
        assert sock.handshake_ivl == descriptors.HANDSHAKE_MS and sock.backlog == descriptors.BACKLOG
        assert sock.heartbeat_ivl == 10_000 and sock.heartbeat_timeout == 30_000
    finally:
        sock.close(0)


def test_a_port_in_use_names_the_setting_and_its_origin(context):
    first_config = config_mod.resolve({"bind": "127.0.0.1", "port": 0}, {}, {})
    first, listening = open_socket(context, first_config, [])
    try:
        taken = config_mod.resolve({"bind": "127.0.0.1"}, {"PINGD_PORT": str(listening.port)}, {})
        with pytest.raises(StartupError, match="stop it or choose another port \\(PINGD_PORT\\)") as info:
            open_socket(context, taken, [])
        assert info.value.exit_code == EXIT_LISTEN
    finally:
        first.close(0)


def test_an_address_this_host_lacks_names_its_origin(context):
    config = config_mod.resolve({"bind": "192.0.2.1", "port": 0}, {}, {})
    with pytest.raises(StartupError, match="this host has no such address; check --bind"):
        open_socket(context, config, [])
