"""Frames only a test writes: the replies a daemon sends, built from values rather than from
a request (pingd itself answers a PING with ``protocol.pong_for``, from the PING's own bytes)."""

from __future__ import annotations

from pingd.shared import protocol


def pong(seq: int, count: int) -> bytes:
    """A PONG for sequence number ``seq`` with the total ``count``, laid out by hand as
    docs/protocol.md gives it, so that it checks ``pong_for`` rather than repeating it."""
    return protocol.HEADER.pack(protocol.MAGIC, protocol.VERSION, protocol.MessageType.PONG, seq) + count.to_bytes(
        8, "big"
    )
