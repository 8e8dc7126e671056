"""What a DNS-SD record in zeroconf's cache becomes, without a network: every value checked,
only class-IN records used, and names zeroconf would raise on refused first."""

from __future__ import annotations

import asyncio
import socket

import pytest
from zeroconf import DNSAddress, DNSPointer, DNSService, DNSText, ServiceInfo, Zeroconf

from pingctl.find import cache
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
    found = cache.found_in(_info(addresses=("fd00::5", "10.0.0.5")), f"box.{service.SERVICE_TYPE}")
    assert found is not None
    assert (found.name, found.host, found.port) == ("box", "pingd-abc123.local", 7464)
    assert found.addresses == ("10.0.0.5", "fd00::5")  # IPv4 first
    assert (found.node_id, found.protocol, found.curve_key) == ("abc123", "1", None)
    assert [t.display for t in found.targets()] == ["10.0.0.5:7464", "[fd00::5]:7464"]
    assert found.as_dict()["addresses"] == ["10.0.0.5", "fd00::5"]


def test_the_curve_key_travels_and_a_given_key_wins():
    txt = service.txt_records("abc123", "K" * 40)
    found = cache.found_in(_info(txt=txt), f"box.{service.SERVICE_TYPE}")
    assert found is not None and found.curve_key == "K" * 40
    assert found.targets()[0].server_key == "K" * 40
    assert found.targets("Z" * 40)[0].server_key == "Z" * 40


def test_records_that_cannot_be_reached_are_refused():
    with pytest.raises(BadRecord, match="no IP address"):
        cache.found_in(_info(addresses=()), f"box.{service.SERVICE_TYPE}")
    with pytest.raises(BadRecord, match="port 0"):
        cache.found_in(_info(port=0), f"box.{service.SERVICE_TYPE}")


def test_foreign_keys_are_ignored():
    txt = {**service.txt_records("abc123"), "junk": "\xff", "flag": None}
    found = cache.found_in(_info(txt=txt), f"box.{service.SERVICE_TYPE}")
    assert found.node_id == "abc123" and found.protocol == "1"


def _txt(**values: str | None) -> dict[str, str | None]:
    """pingd's own TXT record with some values replaced (None: left out)."""
    txt: dict[str, str | None] = {**service.txt_records("abc123"), **values}
    return {k: v for k, v in txt.items() if v is not None}


@pytest.mark.parametrize(
    ("txt", "reason"),
    [
        # The pin-injection attack: a node id carrying a key and a name, then a line break.
        (_txt(id=f"0000000000000000 {'K' * 40} box\n1111111111111111"), "node id"),
        (_txt(id="a" * 65), "node id"),
        (_txt(id=""), "no node id"),
        (_txt(id=None), "no node id"),
        (_txt(pv=None), "no protocol version"),
        (_txt(ver=""), "no version"),
        (_txt(ck="K" * 39), "CURVE key"),
        (_txt(ck="K" * 39 + " "), "CURVE key"),
        (_txt(ck=""), "CURVE key"),
        (_txt(ver="1.0\x1b[2J"), "version"),
        (_txt(pv="1 2"), "protocol version"),
        ({}, "no node id"),
    ],
)
def test_txt_values_outside_their_grammar_refuse_the_whole_record(txt, reason):
    """Holds off pin injection through the TXT node id, and every other TXT value that could
    carry a separator, an escape sequence or a malformed key into known_hosts or a terminal.
    Empty and missing values are refused too: every pingd publishes id, pv and ver."""
    with pytest.raises(BadRecord, match=reason):
        cache.found_in(_info(txt=txt), f"box.{service.SERVICE_TYPE}")


@pytest.mark.parametrize("address", ["0.0.0.0", "255.255.255.255", "224.0.0.251", "ff02::1", "::"])
def test_addresses_nothing_answers_from_are_not_used(address):
    with pytest.raises(BadRecord, match="no IP address"):
        cache.found_in(_info(addresses=(address,)), f"box.{service.SERVICE_TYPE}")


@pytest.mark.parametrize("name", ["box\x1b[2J", "box\nother", "box\x07", "x" * 64, "\u00e9" * 32, "bad\ufffd"])
def test_instance_names_outside_the_grammar_are_refused(name):
    with pytest.raises(BadRecord, match="instance name"):
        cache.found_in(_info(), f"{name}.{service.SERVICE_TYPE}")


def test_the_first_of_a_repeated_txt_key_wins_and_keys_are_case_blind():
    rdata = b"".join(bytes([len(s)]) + s for s in (b"ID=first", b"id=second", b"", b"=x", b"flag"))
    assert service.txt_items(cache.txt_strings(rdata)) == {"id": "first", "flag": None}


def test_instance_names_lose_the_service_type():
    assert cache.instance_name(f"living room.{service.SERVICE_TYPE}") == "living room"


def _cached(records: list) -> Zeroconf:
    """A zeroconf instance on loopback (it sends nothing here) whose cache holds ``records``."""
    zc = Zeroconf(interfaces=["127.0.0.1"], unicast=True)

    async def add() -> None:
        zc.cache.async_add_records(records)

    asyncio.run_coroutine_threadsafe(add(), zc.loop).result(5)
    return zc


def _records(rdclass: int, name: str = "box") -> list:
    full = f"{name}.{service.SERVICE_TYPE}"
    text = b"".join(bytes([len(s)]) + s for s in (f"{k}={v}".encode() for k, v in service.txt_records("n1").items()))
    return [
        DNSPointer(service.SERVICE_TYPE, 12, rdclass, 120, full),
        DNSService(full, 33, rdclass, 120, 0, 0, 7464, "pingd-n1.local."),
        DNSText(full, 16, rdclass, 120, text),
        DNSAddress("pingd-n1.local.", 1, rdclass, 120, socket.inet_aton("127.0.0.1")),
    ]


def test_only_class_in_records_in_the_cache_are_used():
    """Holds off records of class CH over mDNS: every record of a daemon in class CH was used,
    and the daemon listed and pinged."""
    full = f"box.{service.SERVICE_TYPE}"
    zc = _cached(_records(3))  # CH
    try:
        assert not cache.pointed_to(zc, full)
        assert cache.from_cache(zc, full) is None
        assert cache.resolve_all(zc, [full], 0.0) == {full: None}
    finally:
        zc.close()
    zc = _cached(_records(1))  # IN
    try:
        assert cache.pointed_to(zc, full)
        found = cache.from_cache(zc, full)
        assert found is not None and (found.name, found.port, found.addresses) == ("box", 7464, ("127.0.0.1",))
    finally:
        zc.close()


@pytest.mark.parametrize(
    "full_name", [f"box\x07x.{service.SERVICE_TYPE}", f"\x00.{service.SERVICE_TYPE}", "c51.example.com.", "x.local."]
)
def test_names_zeroconf_would_raise_on_are_refused_first(full_name):
    """Holds off the traceback a control character in an instance name, or a PTR pointing out
    of the service, raised from inside zeroconf (exit 1 for discover, status, status --all)."""
    zc = _cached([])
    try:
        outcome = cache.resolve_all(zc, [full_name], 0.2)[full_name]
    finally:
        zc.close()
    assert isinstance(outcome, BadRecord)
