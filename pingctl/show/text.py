"""Text from the network, made safe to print.

A daemon chooses its own name, its status strings and its error texts; a DNS-SD record can say
anything. Printed raw, an escape sequence among them could clear the screen, recolour it, set
the window title or hide text, and an invisible character could make one name look like
another (``box\\u200b`` beside ``box``). ``shown`` escapes, Python-style (``\\x1b``,
``\\u200b``), every character Python does not call printable: control characters (C0, DEL,
C1), format characters (zero-width spaces and joiners, bidirectional controls, the BOM),
separators other than the ASCII space (no-break and other-width spaces, line and paragraph
separators), surrogates, private-use and unassigned code points. Everything else, letters of
any script included, is printed as it is.
"""

from __future__ import annotations


def _escape(char: str) -> str:
    return char if char.isprintable() else char.encode("unicode_escape", errors="backslashreplace").decode("ascii")


def shown(value: object) -> str:
    """``value`` as text with every unprintable character escaped."""
    text = str(value)
    if text.isprintable():  # the usual case, decided in C
        return text
    return "".join(map(_escape, text))
