"""Text from the network, made safe to print.

A daemon chooses its own name, its status strings and its error texts; a DNS-SD record can say
anything. Printed raw, an escape sequence among them could clear the screen, recolour it, set
the window title or hide text, and an invisible character could make one name look like
another (``box\\u200b`` beside ``box``). ``shown`` escapes, Python-style (``\\x1b``,
``\\u200b``):

- every character Python does not call printable: control characters (C0, DEL, C1), format
  characters (zero-width spaces and joiners, bidirectional controls, the BOM), separators
  other than the ASCII space, surrogates, private-use and unassigned code points;
- the printable characters that show nothing (Unicode's default-ignorable code points, such as
  U+034F or the Hangul fillers, and the blank braille pattern U+2800);
- the backslash itself (``\\\\``), so that an escape on screen always means an escaped
  character: a name spelled ``bk\\u200b`` in ASCII never looks like ``bk`` + U+200B.

Everything else, letters of any script included, is printed as it is.
"""

from __future__ import annotations

import re

#: Printable (to Python) yet invisible: Unicode's Default_Ignorable_Code_Point characters that
#: str.isprintable() lets through, and U+2800, which renders as a blank.
_INVISIBLE = re.compile(
    "[\\\\\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u2800\u3164\ufe00-\ufe0f\uffa0"
    "\U0001bca0-\U0001bca3\U000e0100-\U000e01ef]"
)


_SHORT = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    short = _SHORT.get(char)
    if short is not None:
        return short
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def shown(value: object) -> str:
    """``value`` as text with every unprintable or invisible character, and the backslash,
    escaped."""
    text = str(value)
    if text.isprintable() and not _INVISIBLE.search(text):  # the usual case, decided in C
        return text
    return "".join(_escape(c) if not c.isprintable() or _INVISIBLE.match(c) else c for c in text)
