"""Strings from the network are printed with their control characters escaped."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from pingctl.show.text import shown


def test_escape_sequences_are_shown_not_obeyed():
    assert shown("box\x1b[2J\x1b]0;pwned\x07") == "box\\x1b[2J\\x1b]0;pwned\\x07"
    assert shown("a\nb\rc\td\x7f\x9b") == "a\\nb\\rc\\td\\x7f\\x9b"
    assert shown("evil\u202etxt.exe") == "evil\\u202etxt.exe"


def test_ordinary_text_is_unchanged():
    assert shown("Küche – café 東京 🏓") == "Küche – café 東京 🏓"


@given(st.text())
def test_nothing_unsafe_survives(text):
    out = shown(text)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in out)
    assert "\u202e" not in out and "\u2028" not in out


def test_invisible_characters_are_shown_so_lookalike_names_differ():
    """Holds off the lookalike-name attack: `box\u200b` announced beside `box` looked the same
    in discover, the tables and the trust note."""
    for invisible in ("\u200b", "\u2060", "\ufeff", "\u00ad", "\u200d", "\u00a0", "\u3000", "\U000e0001"):
        assert shown(f"box{invisible}") != "box"
        assert shown(f"box{invisible}").startswith("box\\")
    assert shown("box\u200b") == "box\\u200b"


@given(st.text())
def test_what_is_shown_is_printable_and_a_different_name_looks_different(text):
    out = shown(text)
    assert out.isprintable()
    assert shown(text + "\u200b") != shown(text)


def test_printable_but_invisible_characters_and_the_backslash_are_escaped():
    """Holds off two gaps an outsider found: characters Python calls printable that show
    nothing (U+034F, U+17B4, U+115F, U+3164, U+2800), and a name spelled `bk\\u200b` in ASCII
    that looked exactly like `bk` + U+200B."""
    for invisible in ("\u034f", "\u17b4", "\u115f", "\u3164", "\u2800", "\ufe0f"):
        assert shown(f"box{invisible}") != "box" and shown(f"box{invisible}").startswith("box\\")
    assert shown("bk\\u200b") == "bk\\\\u200b" != shown("bk\u200b") == "bk\\u200b"
    assert shown("a\\b") == "a\\\\b"


_ESCAPE = re.compile(r"\\(\\|n|r|t|x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8})")


def _unshown(text: str) -> str:
    short = {"\\": "\\", "n": "\n", "r": "\r", "t": "\t"}
    return _ESCAPE.sub(lambda m: short.get(m.group(1)) or chr(int(m.group(1)[1:], 16)), text)


@given(st.text())
def test_what_is_shown_can_be_read_back_exactly(text):
    """No two texts look alike on screen: every escape can be undone, so shown() is one to one."""
    assert _unshown(shown(text)) == text
