"""Refused values repeated in a one-line message, cut to a length a terminal line can hold."""

from __future__ import annotations

from typing import Final

#: The most characters of a value (or of what is wrong with it) that a message repeats.
SHOWN_CHARS: Final = 80


def cut(text: str) -> str:
    """``text``, cut to SHOWN_CHARS with its length said (a 4,000-digit number is not
    repeated whole)."""
    return text if len(text) <= SHOWN_CHARS else f"{text[:SHOWN_CHARS]}... ({len(text)} characters)"
