"""Discovery's parsing and schedule, without a network: what a DNS-SD record becomes."""

from __future__ import annotations

import itertools
import socket

import pytest
from zeroconf import ServiceInfo

from pingctl.find import mdns
from pingctl.find.found import BadRecord
from pingd.shared import service


def _info(name="box", port=7464, addresses=("10.0.0.5", "fd00::5"), txt=None):
    return ServiceInfo(
        service.SERVICE_TYPE,
        f"{name}.{service.SERVICE_TYPE}",
        port=port,
        addresses=[socket.inet_pton(socket.AF_INET6 if ":" in a else socket.AF_INET, a) for a in addresses],
        properties=service.txt_records("abc123") if txt is None else txt,
        server="pingd-abc123.local.",
    )


def test_a_record_as_pingd_announces_it():
    found = mdns.found_in(_info(addresses=("fd00::5", "10.0.0.5")), f"box.{service.SERVICE_TYPE}")
    assert found is not None
    assert (found.name, found.host, found.port) == ("box", "pingd-abc123.local", 7464)
    assert found.addresses == ("10.0.0.5", "fd00::5")  # IPv4 first
    assert (found.node_id, found.protocol, found.curve_key) == ("abc123", "1", None)
    assert [t.display for t in found.targets()] == ["10.0.0.5:7464", "[fd00::5]:7464"]
    assert found.as_dict()["addresses"] == ["10.0.0.5", "fd00::5"]


def test_the_curve_key_travels_and_a_given_key_wins():
    txt = service.txt_records("abc123", "K" * 40)
    found = mdns.found_in(_info(txt=txt), f"box.{service.SERVICE_TYPE}")
    assert found is not None and found.curve_key == "K" * 40
    assert found.targets()[0].server_key == "K" * 40
    assert found.targets("Z" * 40)[0].server_key == "Z" * 40


def test_records_that_cannot_be_reached_are_refused():
    with pytest.raises(BadRecord, match="no IP address"):
        mdns.found_in(_info(addresses=()), f"box.{service.SERVICE_TYPE}")
    with pytest.raises(BadRecord, match="port 0"):
        mdns.found_in(_info(port=0), f"box.{service.SERVICE_TYPE}")


def test_foreign_txt_records_do_not_break_parsing():
    found = mdns.found_in(_info(txt={"junk": "\xff", "id": ""}), f"box.{service.SERVICE_TYPE}")
    assert found.node_id is None and found.version is None


@pytest.mark.parametrize(
    ("txt", "reason"),
    [
        # The pin-injection attack: a node id carrying a key and a name, then a line break.
        ({"id": f"0000000000000000 {'K' * 40} box\n1111111111111111"}, "node id"),
        ({"id": "a" * 65}, "node id"),
        ({"id": "abc123", "ck": "K" * 39}, "CURVE key"),
        ({"id": "abc123", "ck": "K" * 39 + " "}, "CURVE key"),
        ({"id": "abc123", "ver": "1.0\x1b[2J"}, "version"),
        ({"id": "abc123", "pv": "1 2"}, "protocol version"),
    ],
)
def test_txt_values_outside_their_grammar_refuse_the_whole_record(txt, reason):
    """Holds off pin injection through the TXT node id, and every other TXT value that could
    carry a separator, an escape sequence or a malformed key into known_hosts or a terminal."""
    with pytest.raises(BadRecord, match=reason):
        mdns.found_in(_info(txt=txt), f"box.{service.SERVICE_TYPE}")


@pytest.mark.parametrize("name", ["box\x1b[2J", "box\nother", "x" * 64, "\u00e9" * 32])
def test_instance_names_outside_the_grammar_are_refused(name):
    with pytest.raises(BadRecord, match="instance name"):
        mdns.found_in(_info(), f"{name}.{service.SERVICE_TYPE}")


def test_the_first_of_a_repeated_txt_key_wins_and_keys_are_case_blind():
    rdata = b"".join(bytes([len(s)]) + s for s in (b"ID=first", b"id=second", b"", b"=x", b"flag"))
    assert service.txt_items(mdns.txt_strings(rdata)) == {"id": "first", "flag": None}


def test_instance_names_lose_the_service_type():
    assert mdns.instance_name(f"living room.{service.SERVICE_TYPE}") == "living room"


def test_questions_come_often_at_first_then_every_second():
    times = list(itertools.islice(mdns.question_times(), 12))
    assert times[:3] == [0.0, 0.25, 0.5] and times[7] == 1.75
    assert times[8:] == [2.0, 3.0, 4.0, 5.0]


def test_a_watched_record_is_asked_for_again_at_80_85_90_and_95_percent_of_its_life():
    asks, asked = [], 0
    for percent in range(0, 101):
        if mdns.refresh_due(percent, asked):
            asked += 1
            asks.append(percent)
    assert asks == [80, 85, 90, 95]
    assert not mdns.refresh_due(99, 4)
