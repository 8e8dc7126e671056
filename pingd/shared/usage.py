"""Running a typer app so that every usage error is one line, for pingd and pingctl alike."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

EXIT_USAGE = 2


def run(app: Any, prog_name: str, args: Sequence[str]) -> int:
    """Run ``app`` and return its exit code; usage errors become `PROG: what (see … --help)`.

    Usage errors are click's (vendored by newer typer releases), recognised by their interface
    rather than by a class whose module moved between typer versions. Anything else raises.
    """
    try:
        code = app(args=list(args), prog_name=prog_name, standalone_mode=False)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        kind = type(exc).__name__
        if kind == "Abort":
            return 130
        usage: Any = exc  # click's usage errors, recognised by what they can do
        if kind == "NoArgsIsHelpError":  # the bare command: show its help
            print(usage.format_message())
            return EXIT_USAGE
        if hasattr(usage, "format_message") and isinstance(getattr(usage, "exit_code", None), int):
            ctx = getattr(usage, "ctx", None)
            command = ctx.command_path if ctx is not None else prog_name
            print(f"{prog_name}: {usage.format_message()} (see '{command} --help')", file=sys.stderr)
            return int(usage.exit_code)
        raise
    return code if isinstance(code, int) else 0
