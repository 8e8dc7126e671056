"""The ranges pingctl's durations are held to (shared by the CLI checks and the client), and the
discovery window of the commands that ask every daemon."""

from __future__ import annotations

from typing import Final

from pingctl.errors import PingctlError

#: The longest reply timeout, in seconds: libzmq keeps a receive timeout as int milliseconds.
MAX_TIMEOUT: Final = 3600.0
#: The longest discovery window and `discover --timeout`.
MAX_DISCOVERY: Final = 3600.0
#: The longest pause between pings and between status refreshes.
MAX_INTERVAL: Final = 86400.0
#: The longest session deadline.
MAX_DEADLINE: Final = 366 * 86400.0
#: How long `discover` (and `status --all`, `ping --all`) listen by default: answers come
#: within milliseconds; the rest of the second covers a loaded host and a lost first answer.
DISCOVER_WINDOW: Final = 1.0


def check_seconds(flag: str, value: float | None, most: float, zero_ok: bool = False) -> None:
    """A duration from the command line: finite, in range (nan fails every comparison)."""
    if value is None:
        return
    if not ((value >= 0 if zero_ok else value > 0) and value <= most):
        low = "0 or more" if zero_ok else "above 0"
        raise PingctlError(f"{flag} takes a number of seconds, {low} and at most {most:g}")
