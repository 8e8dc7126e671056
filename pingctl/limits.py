"""The ranges pingctl's durations are held to (shared by the CLI checks and the client)."""

from __future__ import annotations

from typing import Final

#: The longest reply timeout, in seconds: libzmq keeps a receive timeout as int milliseconds.
MAX_TIMEOUT: Final = 3600.0
#: The longest discovery window and `discover --timeout`.
MAX_DISCOVERY: Final = 3600.0
#: The longest pause between pings and between status refreshes.
MAX_INTERVAL: Final = 86400.0
#: The longest session deadline.
MAX_DEADLINE: Final = 366 * 86400.0
