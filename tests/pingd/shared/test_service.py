"""The DNS-SD contract: the TXT record written and read in one place, the grammar of every
announced value, and the host-name rule."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pingd.shared import protocol, service


def test_txt_records_carry_the_protocol_and_the_key_only_when_encrypted():
    plain = service.txt_records("abcd")
    assert plain == {"txtvers": "1", "pv": str(protocol.VERSION), "ver": plain["ver"], "id": "abcd"}
    assert "ck" not in plain
    assert service.txt_records("abcd", "K" * 40)["ck"] == "K" * 40


def test_what_pingd_writes_pingctl_reads():
    strings = [f"{k}={v}".encode() for k, v in service.txt_records("abcd1234", "K" * 40).items()]
    record = service.decode_txt(service.txt_items(strings))
    assert record == service.TxtRecord(node_id="abcd1234", version=record.version, protocol="1", curve_key="K" * 40)


@given(st.text(max_size=80))
def test_a_node_id_is_letters_and_digits_only(text):
    assert service.is_node_id(text) == (1 <= len(text) <= 64 and text.isascii() and text.isalnum())


@pytest.mark.parametrize(
    ("name", "ok"),
    [("box", True), ("living room", True), ("K\u00fcche", True), ("box\u200b", True), ("", False), (" ", False),
     ("box\n", False), ("a\x1b[2J", False), ("\x85", False), ("x" * 63, True), ("x" * 64, False),
     ("\u00e9" * 31, True), ("\u00e9" * 32, False)],
)  # fmt: skip
def test_instance_names_are_one_dns_label_with_no_control_character(name, ok):
    assert (service.instance_name_problem(name) is None) is ok


def test_the_host_name_rule():
    assert service.host_label("abc") == "pingd-abc"
    assert service.SERVICE_TYPE == "_pingd._tcp.local." and service.SERVICE_LABELS == (b"_pingd", b"_tcp")
