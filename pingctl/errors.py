"""pingctl's exit codes (iputils ping's) and the error every expected failure raises."""

from __future__ import annotations

from typing import Final

EXIT_OK: Final = 0  # at least one pong (or the command did what it was asked)
EXIT_NO_REPLY: Final = 1  # pings went out, no pong came back
EXIT_ERROR: Final = 2  # bad arguments, nothing found, unreachable, another protocol


class PingctlError(Exception):
    """An expected failure: one line for the user, and the exit code to leave with."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code
