"""The ``pingd`` command: flags → Config → Daemon. Thin on purpose; the work is in pingd.daemon.

Each setting's flag is made from its one declaration in pingd.settings (name, help, the default
--help shows); only the options that are not settings are written out here.
"""

from __future__ import annotations

import atexit
import inspect
import json
import logging
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Optional, TypeVar

import typer

from pingd import __version__
from pingd.errors import EXIT_SETTINGS as EXIT_CONFIG  # the exit codes live in pingd.errors
from pingd.errors import EXIT_STATE
from pingd.settings import SETTINGS, Setting

if TYPE_CHECKING:
    from pingd.config import Config

log = logging.getLogger("pingd")
Command = TypeVar("Command", bound=Callable[..., Any])


app = typer.Typer(
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"pingd {__version__}")
        raise typer.Exit()


def _value_type(setting: Setting) -> Any:
    """What typer turns the flag's text into before pingd's own parser (in pingd.settings) sees it."""
    if setting.switch:
        return Optional[bool]
    if setting.repeatable:
        return Optional[list[str]]
    # Numbers, paths, everything: pingd reads the text itself, with one message whatever its
    # origin (typer's int() would take full-width digits and 1_000 for a port).
    return Optional[str]


def _flag(setting: Setting) -> inspect.Parameter:
    """``setting``'s flag, as a parameter typer reads. Its value is None when the flag is not given,
    so that the environment and the settings file can still set it."""
    decls = [f"{setting.flag}/--no-{setting.flag[2:]}" if setting.switch else setting.flag]
    shown = setting.help_default
    help_text = setting.help if shown is None else f"{setting.help} [default: {shown}]"
    metavar = setting.metavar or ("INTEGER" if isinstance(setting.default, int) and not setting.switch else None)
    option = typer.Option(None, *decls, help=help_text, metavar=metavar)
    return inspect.Parameter(
        setting.key, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=_value_type(setting)
    )


def _with_setting_flags(command: Command) -> Command:
    """Give ``command`` a flag per setting, ahead of its own options; their values reach it as
    ``**settings``. typer builds a command from its function's signature, so that is what changes."""
    own = inspect.signature(command, eval_str=True).parameters.values()
    rest = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own if p.kind is not inspect.Parameter.VAR_KEYWORD]
    command.__signature__ = inspect.Signature([*map(_flag, SETTINGS), *rest])  # type: ignore[attr-defined]
    return command


@app.command()
@_with_setting_flags
def run(
    print_dns_records: Annotated[
        bool,
        typer.Option(
            "--print-dns-records",
            help="Print the zone-file lines --dns-domain would register, and exit (the service's state file "
            "is only read, never made).",
        ),
    ] = False,
    config: Annotated[
        Optional[str],
        typer.Option(
            "--config",
            help="Settings file (TOML). [default: $PINGD_CONFIG, $CONFIGURATION_DIRECTORY/pingd.toml, or the user "
            "config dir's; for --check-config and --print-dns-records run by hand on a host with the pingd service, "
            "the service's: /etc/pingd/pingd.toml]",
        ),
    ] = None,
    check_config: Annotated[
        bool, typer.Option("--check-config", help="Validate the settings, print them, and exit.")
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            help="With --check-config or --print-dns-records: no line saying which files were read; "
            "--check-config then prints nothing unless a setting is bad (for ExecReload=).",
        ),
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    **settings: Any,
) -> None:
    """pingd: count pings over ZeroMQ, announce over mDNS, and never lose the count."""
    from pingd import config as config_mod
    from pingd import configfile

    flags = {key: tuple(value) if isinstance(value, list) else value for key, value in settings.items()}
    config_path = Path(config) if config else None
    if check_config or print_dns_records:
        raise typer.Exit(_one_shot(flags, config_path, records=print_dns_records, quiet=quiet))
    if quiet:
        _fail("--quiet goes with --check-config or --print-dns-records", EXIT_CONFIG)
    resolved = _load(flags, config_path, os.environ, service=False)
    state_path = config_mod.state_file_path(resolved)
    raise typer.Exit(_serve(resolved, state_path, lambda: configfile.load(flags, config_path)))


def _load(flags: dict[str, Any], config_path: Path | None, environ: Mapping[str, str], *, service: bool) -> Config:
    """The settings, or the one line that says why not (exit 2)."""
    from pingd import configfile
    from pingd.config import ConfigError

    try:
        return configfile.load(flags, config_path, environ)
    except configfile.Unreadable as exc:
        _fail(f"{exc}{_SERVICES if service else ''}", EXIT_CONFIG)
    except ConfigError as exc:
        _fail(str(exc), EXIT_CONFIG)


def _one_shot(flags: dict[str, Any], config_path: Path | None, *, records: bool, quiet: bool) -> int:
    """--check-config or --print-dns-records. Run by hand on a host that has the pingd service,
    they describe that service (its settings and its state), not a pingd the user would start;
    either way one line on stderr names the files and whose they are."""
    from pingd import config as config_mod
    from pingd import configfile

    service_env = configfile.service_environment(os.environ)
    service = service_env is not None
    environ = service_env or os.environ
    resolved = _load(flags, config_path, environ, service=service)
    state_path = config_mod.state_file_path(resolved, environ)
    if not quiet:
        print(
            f"pingd: {configfile.sources(resolved, config_path, environ, state_path, service=service)}", file=sys.stderr
        )
    if records:
        return _print_dns_records(resolved, state_path, read_only=service)
    if not quiet:
        print(json.dumps({**resolved.effective(), "state_file": str(state_path)}, indent=2))
    return 0


def _serve(settings: Config, state_path: Path, reload: Callable[[], Config]) -> int:
    from pingd.daemon import StartupError, create_daemon
    from pingd.host import logs

    logs.setup(settings.log_level)
    try:
        daemon = create_daemon(settings, state_path, reload_config=reload)
    except StartupError as exc:
        log.error("%s", exc)
        return exc.exit_code
    daemon.install_signal_handlers()
    log.info(
        "pingd %s node %s (%s) starting, count %d, state %s, settings %s, sync %s",
        __version__,
        daemon.store.node_id,
        settings.instance_name,
        daemon.actor.count,
        state_path,
        settings.config_file or "none",
        settings.sync,
    )
    key = daemon.actor.identity.public_key
    if key:
        log.info(
            "CURVE encryption on (%s); public key %s: clients use --server-key %s",
            daemon.actor.identity.security,
            key,
            key,
        )
    return daemon.serve()


#: Said after a file of the service's that this user cannot read.
_SERVICES = "; it is the pingd service's: run as root (sudo), or name your own with --config and --state-file"


def _print_dns_records(settings: Config, state_path: Path, *, read_only: bool) -> int:
    """The records --dns-domain registers, as zone-file lines for an operator to add by hand.
    ``read_only``: the files are the service's, which this command must never make (a node id
    made now would not be the service's, and a file made by root the service could not open)."""
    from pingd.announce import zonefile

    if read_only:
        problem = _not_readable(state_path, settings.curve)
        if problem:
            _fail(problem, EXIT_STATE)
    try:
        lines = zonefile.lines_for(settings, state_path, create=not read_only)
    except zonefile.CannotPrint as exc:
        _fail(str(exc), exc.exit_code)
    print("\n".join(lines))
    return 0


def _not_readable(state_path: Path, curve: bool) -> str | None:
    """Why the service's state (and its CURVE key, when it serves encrypted) cannot be read now."""
    # The key pair's name beside the state file, as the daemon makes it (pingd.daemon).
    needed = [state_path, state_path.parent / "pingd-curve.key_secret"] if curve else [state_path]
    for path in needed:
        try:
            os.stat(path)
        except FileNotFoundError:
            if os.path.islink(path):
                return f"{path}: a link to {os.readlink(path)}, which does not exist"
            return (
                f"{path} does not exist yet: the pingd service makes it when it first starts "
                "(systemctl start pingd); --print-dns-records only reads the service's files"
            )
        except PermissionError as exc:
            return f"{path}: {exc.strerror}{_SERVICES}"
        except OSError as exc:
            return f"{path}: {exc.strerror}"
    return None


def _fail(message: str, code: int) -> NoReturn:
    print(f"pingd: {message}", file=sys.stderr)
    raise typer.Exit(code)


def main(argv: list[str] | None = None) -> None:
    from pingd.shared import usage

    leave(usage.run(app, "pingd", sys.argv[1:] if argv is None else argv))


def leave(code: int) -> NoReturn:
    """Exit with ``code`` without the interpreter's teardown of every module and object.

    pingd has stopped in order by now (count synced, goodbyes sent, sockets closed, context
    ended); what the teardown would add is CPU: about 30 ms of a stop's 40 ms, which 300
    daemons stopped together pay at once. Exit handlers (coverage's, in the test suite) and
    the log's and streams' buffers are flushed first.
    """
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass  # a closed or broken stream: nothing more can be said on it
    os._exit(code)


if __name__ == "__main__":
    main()
