"""The ``pingctl`` command: the typer app assembled from ``pingctl.commands``, and ``main``.

Each command lives in a module of its own (options, the checks that are about flags, one
call to the module that does the work). ``main`` turns every expected failure into one line
on stderr and its exit code; ``--debug`` shows the traceback instead. zmq and zeroconf are
imported inside the commands that need them, so ``--help`` and address-given commands start
fast.
"""

from __future__ import annotations

import signal
import sys
from typing import Annotated

import typer

from pingctl.commands import discover, keys, mesh, monitor, ping, status
from pingctl.errors import EXIT_ERROR, ClientError, PingctlError, explain
from pingctl.show.text import shown
from pingd import __version__

app = typer.Typer(
    add_completion=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Find a pingd on the LAN, ping it, and show what the round trip really costs.",
)

_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        print(f"pingctl {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of failures (for bug reports).")] = False,
) -> None:
    _state["debug"] = debug


app.command("ping")(ping.ping)
app.command("status")(status.status)
app.command("discover")(discover.discover)
app.command("monitor")(monitor.monitor)
app.command("mesh")(mesh.mesh)
app.add_typer(keys.app, name="keys")


def main(argv: list[str] | None = None) -> None:
    """Run pingctl; every expected failure ends as one line on stderr and its exit code."""
    from pingd.shared import usage

    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        # Ignored by the shell that started pingctl in the background of a script: taken back,
        # as ping and fping take it, so that `kill -INT` ends a session with its summary and a
        # watch quietly, as Ctrl-C does.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    args = status.optional_watch_value(sys.argv[1:] if argv is None else argv)
    try:
        code = usage.run(app, "pingctl", args)
    except (PingctlError, ClientError) as exc:
        if _state["debug"]:
            raise
        message = explain(exc) if isinstance(exc, ClientError) else str(exc)
        print(f"pingctl: {shown(message)}", file=sys.stderr)
        code = exc.exit_code if isinstance(exc, PingctlError) else EXIT_ERROR
    sys.exit(code)


if __name__ == "__main__":
    main()
