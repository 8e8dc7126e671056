"""Strings from the network are printed with their control characters escaped."""

from __future__ import annotations

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
