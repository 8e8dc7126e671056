"""Strings from the network are printed with their control characters escaped."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pingctl.text import shown


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
