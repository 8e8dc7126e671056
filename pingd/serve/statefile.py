"""The state file's format: what its bytes are, and what makes them a valid state. Pure.

The file is JSON a person can read, laid out so that the count sits in a fixed-width field
at a fixed offset::

    {
      "format": 1,
      "node_id": "3f9c0a1b2c3d4e5f",
      "count": 1234
    }

so that recording a count is one write of ``COUNT_WIDTH`` bytes at ``count_offset(node_id)``.
``pingd.serve.store`` does the I/O (locking, creating, reading, writing); this module only
renders and parses bytes.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pingd.shared.cut import cut

FORMAT: Final = 1
COUNT_WIDTH: Final = 20  # digits of 2**64 - 1
#: A state file is about 90 bytes; anything much larger is not one (and is never parsed).
MAX_SIZE: Final = 4096
_PREFIX_TEMPLATE: Final = '{{\n  "format": {format},\n  "node_id": "{node_id}",\n  "count": '
_SUFFIX: Final = "\n}\n"


class StateFileError(Exception):
    """The state file cannot be used; the message names it and says what to do."""

    def __init__(self, path: Path, problem: str, hint: str = "") -> None:
        self.path = path
        message = f"state file {path}: {problem}"
        super().__init__(f"{message}; {hint}" if hint else message)


@dataclass(frozen=True, slots=True)
class State:
    node_id: str
    count: int


def new_node_id() -> str:
    """A fresh node id: 16 hexadecimal digits (64 random bits)."""
    return secrets.token_hex(8)


def render(node_id: str, count: int) -> bytes:
    """The canonical bytes of a state file."""
    prefix = _PREFIX_TEMPLATE.format(format=FORMAT, node_id=node_id)
    return (prefix + str(count).ljust(COUNT_WIDTH) + _SUFFIX).encode()


def count_offset(node_id: str) -> int:
    """Where the count field starts in the canonical bytes of ``node_id``'s state file."""
    return len(render(node_id, 0)) - COUNT_WIDTH - len(_SUFFIX)


def parse(data: bytes, path: Path) -> State:
    """Validate a state file's bytes; raise StateFileError saying exactly what is wrong."""
    keep = "pingd will not overwrite it: repair it or move it away"
    if len(data) > MAX_SIZE:
        raise StateFileError(path, f"larger than {MAX_SIZE} bytes, so not a pingd state file", keep)
    if not data.strip():
        raise StateFileError(path, "file is empty (truncated?)", keep)
    try:
        obj = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise StateFileError(path, "not UTF-8 text", keep) from None
    except json.JSONDecodeError as exc:
        raise StateFileError(path, f"not valid JSON ({exc})", keep) from None
    except (ValueError, RecursionError) as exc:  # a number too long to convert, nesting too deep
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise StateFileError(path, f"not a valid state ({reason})", keep) from None
    if not isinstance(obj, dict):
        raise StateFileError(path, "not a JSON object", keep)
    fmt = obj.get("format")
    if type(fmt) is not int or fmt != FORMAT:  # not true, not 1.0
        raise StateFileError(path, f"unknown format {cut(repr(fmt))} (this pingd reads format {FORMAT})", keep)
    node_id, count = obj.get("node_id"), obj.get("count")
    if not isinstance(node_id, str) or not node_id.isascii() or not node_id.isalnum() or len(node_id) > 64:
        raise StateFileError(path, f"node_id {cut(repr(node_id))} is not 1-64 letters or digits", keep)
    if type(count) is not int or not 0 <= count < 2**64:
        raise StateFileError(path, f"count {cut(repr(count))} is not a whole number 0..2**64-1", keep)
    return State(node_id=node_id, count=count)
