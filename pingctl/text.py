"""Text from the network, made safe to print.

A daemon chooses its own name, its status strings and its error texts; a DNS-SD record can say
anything. Printed raw, an escape sequence among them could clear the screen, recolour it, set
the window title or hide text. ``shown`` escapes every control character (C0, DEL, C1) and the
invisible bidirectional controls, Python-style (``\\x1b``, ``\\u202e``), and nothing else.
"""

from __future__ import annotations

import re

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


def shown(value: object) -> str:
    """``value`` as text with control characters escaped."""
    return _UNSAFE.sub(_escape, str(value))
