"""The ``pingd`` command: flags → Config → Daemon. Thin on purpose; the work is in server.py."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from pingd import __version__
from pingd.errors import EXIT_SETTINGS as EXIT_CONFIG  # the exit codes live in pingd.errors

log = logging.getLogger("pingd")


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


@app.command()
def run(
    bind: Annotated[
        Optional[str], typer.Option(help="Address to listen on; * is every interface, IPv4 and IPv6. [default: *]")
    ] = None,
    port: Annotated[Optional[int], typer.Option(help="TCP port; 0 picks a free one. [default: 7464]")] = None,
    state_file: Annotated[
        Optional[str],
        typer.Option(
            help="State file. [default: $PINGD_STATE_FILE, $STATE_DIRECTORY/state.json, or the user state dir]"
        ),
    ] = None,
    sync: Annotated[
        Optional[str],
        typer.Option(
            help="periodic: on disk within 1 s; always: fsync before every PONG (group commit). [default: periodic]"
        ),
    ] = None,
    name: Annotated[
        Optional[str], typer.Option(help="Instance name announced over mDNS. [default: the host name]")
    ] = None,
    mdns: Annotated[
        Optional[bool], typer.Option("--mdns/--no-mdns", help="Announce over mDNS/DNS-SD. [default: --mdns]")
    ] = None,
    mdns_interface: Annotated[
        Optional[list[str]], typer.Option(help="Announce only on this interface address (repeatable). [default: all]")
    ] = None,
    log_level: Annotated[Optional[str], typer.Option(help="debug, info, warning or error. [default: info]")] = None,
    curve: Annotated[
        Optional[bool],
        typer.Option(
            "--curve/--no-curve",
            help=(
                "Serve only CURVE-encrypted connections; the key pair lives beside the state file. "
                "[default: --no-curve]"
            ),
        ),
    ] = None,
    allow_clients: Annotated[
        Optional[str],
        typer.Option(help="With --curve: admit only clients whose public key is in a file in this directory."),
    ] = None,
    dns_domain: Annotated[
        Optional[str],
        typer.Option(help="Also register in this DNS domain by dynamic update (RFC 2136), for DNS-SD beyond the LAN."),
    ] = None,
    dns_server: Annotated[
        Optional[str],
        typer.Option(
            help="With --dns-domain: the DNS server to update, ADDRESS[:PORT]. [default: the zone's primary (SOA)]",
            metavar="ADDR[:PORT]",
        ),
    ] = None,
    dns_key: Annotated[
        Optional[str],
        typer.Option(
            help="With --dns-domain: sign updates with the TSIG key in this file (BIND's format, tsig-keygen)."
        ),
    ] = None,
    print_dns_records: Annotated[
        bool,
        typer.Option("--print-dns-records", help="Print the zone-file lines --dns-domain would register, and exit."),
    ] = False,
    config: Annotated[
        Optional[str],
        typer.Option(
            "--config",
            help="Settings file (TOML). [default: $CONFIGURATION_DIRECTORY/pingd.toml or the user config dir]",
        ),
    ] = None,
    check_config: Annotated[
        bool, typer.Option("--check-config", help="Validate the settings, print them, and exit.")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """pingd: count pings over ZeroMQ, announce over mDNS, and never lose the count."""
    from pingd import config as config_mod

    flags = {
        "bind": bind,
        "port": port,
        "state_file": state_file,
        "sync": sync,
        "name": name,
        "mdns": mdns,
        "mdns_interfaces": tuple(mdns_interface or ()),
        "log_level": log_level,
        "curve": curve,
        "allow_clients": allow_clients,
        "dns_domain": dns_domain,
        "dns_server": dns_server,
        "dns_key": dns_key,
    }
    try:
        settings = config_mod.load(flags, Path(config) if config else None)
    except config_mod.ConfigError as exc:
        _fail(str(exc), EXIT_CONFIG)
    state_path = config_mod.state_file_path(settings)
    if print_dns_records:
        raise typer.Exit(_print_dns_records(settings, state_path))
    if check_config:
        print(json.dumps({**settings.effective(), "state_file": str(state_path)}, indent=2))
        raise typer.Exit()
    raise typer.Exit(_serve(settings, state_path, lambda: config_mod.load(flags, Path(config) if config else None)))


def _serve(settings, state_path: Path, reload) -> int:
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
        "pingd %s node %s (%s) starting, count %d, state %s, sync %s",
        __version__,
        daemon.store.node_id,
        settings.instance_name,
        daemon.actor.count,
        state_path,
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


def _print_dns_records(settings, state_path: Path) -> int:
    """The records --dns-domain registers, as zone-file lines for an operator to add by hand."""
    from pingd.announce import zonefile

    try:
        lines = zonefile.lines_for(settings, state_path)
    except zonefile.CannotPrint as exc:
        _fail(str(exc), exc.exit_code)
    print("\n".join(lines))
    return 0


def _fail(message: str, code: int) -> None:
    print(f"pingd: {message}", file=sys.stderr)
    raise typer.Exit(code)


def main(argv: list[str] | None = None) -> None:
    from pingd.shared import usage

    sys.exit(usage.run(app, "pingd", sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
