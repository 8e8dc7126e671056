"""The error every start-up failure of pingd raises, with the exit code it ends in."""

from __future__ import annotations

#: Exit codes (also in the README): 0 stopped cleanly, 1 unexpected failure, 2 bad flags or
#: settings, 3 the state file (or a key file) cannot be used, 4 the address cannot be listened on.
EXIT_SETTINGS = 2
EXIT_STATE = 3
EXIT_LISTEN = 4


class StartupError(Exception):
    """pingd cannot start; ``exit_code`` is what the process should exit with."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code
