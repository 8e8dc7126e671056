"""The ``pingctl`` command: ping, status and discover.

Thin on purpose: options are parsed here and handed to the client, session and discovery
modules. zmq and zeroconf are imported inside the commands that need them, so ``--help``
and address-given commands start fast.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from dataclasses import dataclass
from typing import Annotated, Optional

import typer

from pingctl.errors import EXIT_ERROR, EXIT_NO_REPLY, EXIT_OK, ClientError, PingctlError, explain
from pingctl.limits import MAX_DEADLINE, MAX_DISCOVERY, MAX_INTERVAL, MAX_TIMEOUT
from pingctl.limits import check_seconds as _check_seconds
from pingctl.show.text import shown
from pingd import __version__
from pingd.shared.protocol import DEFAULT_PORT

app = typer.Typer(
    add_completion=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Find a pingd on the LAN, ping it, and show what the round trip really costs.",
)

_state = {"debug": False}

ServerIp = Annotated[
    Optional[str],
    typer.Option("--server-ip", help="Daemon address (IPv4, IPv6 or host name); skips mDNS mdns.", show_default=False),
]
Port = Annotated[
    Optional[int], typer.Option(help=f"Daemon port, with --server-ip. [default: {DEFAULT_PORT}]", show_default=False)
]
Name = Annotated[
    Optional[str], typer.Option(help="Choose the daemon announced under this instance name.", show_default=False)
]
DiscoveryTimeout = Annotated[float, typer.Option(help="Seconds to look for a daemon by mDNS.")]
MdnsInterface = Annotated[
    Optional[list[str]],
    typer.Option(help="Use mDNS only on this interface address (repeatable). [default: all]", show_default=False),
]
Timeout = Annotated[float, typer.Option(help="Seconds to wait for each reply.")]
ServerKey = Annotated[
    Optional[str],
    typer.Option(
        "--server-key",
        help=(
            "The daemon's CURVE public key (40 characters): connect encrypted and accept only that daemon. "
            "[default: the key discovery announces, trusted on first use]"
        ),
        show_default=False,
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of text.")]
Domain = Annotated[
    Optional[str],
    typer.Option(
        help=(
            "Find daemons registered in this DNS domain (DNS-SD over unicast DNS) instead of by mDNS. "
            "[default: mDNS, and the browse domains the network suggests]"
        ),
        show_default=False,
    ),
]


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


def _wanted(server_ip, port, name, discovery_timeout, mdns_interface, server_key, domain):
    from pingctl import connect

    return connect.Wanted(
        server_ip=server_ip,
        port=port,
        name=name,
        domain=domain,
        interfaces=tuple(mdns_interface or ()),
        discovery_timeout=discovery_timeout,
        server_key=server_key,
    )


@app.command()
def ping(
    server_ip: ServerIp = None,
    port: Port = None,
    name: Annotated[
        Optional[list[str]],
        typer.Option(
            help="Choose the daemon announced under this instance name; repeat it to ping several at once.",
            show_default=False,
        ),
    ] = None,
    count: Annotated[int, typer.Option("--count", "-c", help="Pings to send; 0 sends until interrupted.")] = 100,
    interval: Annotated[float, typer.Option("--interval", "-i", help="Seconds between pings; 0 goes flat out.")] = 2.0,
    timeout: Timeout = 1.0,
    deadline: Annotated[
        Optional[float],
        typer.Option("--deadline", "-w", help="Stop after this many seconds, whatever the count.", show_default=False),
    ] = None,
    discovery_timeout: DiscoveryTimeout = 3.0,
    mdns_interface: MdnsInterface = None,
    json_output: Json = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the summary.")] = False,
    histogram: Annotated[
        bool, typer.Option("--histogram", help="After the summary, the latency distribution in log-spaced buckets.")
    ] = False,
    samples: Annotated[
        bool, typer.Option("--samples", help="With --json: include every ping's seq, RTT and count.")
    ] = False,
    no_color: Annotated[
        bool, typer.Option("--no-color", help="No colours in the live view (NO_COLOR is honoured too).")
    ] = False,
    server_key: ServerKey = None,
    all_daemons: Annotated[
        bool,
        typer.Option(
            "--all",
            help=f"Ping every daemon discovery finds (listening {DISCOVER_WINDOW:g} s), all at once: one row each.",
        ),
    ] = False,
    domain: Domain = None,
) -> None:
    """Send pings to a daemon and report each round trip, then the statistics.

    On a terminal the session is shown live; piped, it prints one line per pong, as ping does.
    SIGQUIT (Ctrl-\\) prints the statistics so far without stopping; Ctrl-C stops and
    prints the summary.

    With --all (or several --name), every daemon gets its own session on the same schedule:
    a live table on a terminal; piped, one fping-style summary line per daemon.
    """
    if count < 0:
        raise PingctlError("--count must be 0 (until interrupted) or more")
    _check_seconds("--interval", interval, MAX_INTERVAL, zero_ok=True)
    _check_seconds("--deadline", deadline, MAX_DEADLINE)
    _check_seconds("--timeout", timeout, MAX_TIMEOUT)
    if samples and not json_output:
        raise PingctlError("--samples adds per-ping samples to the JSON output; use it with --json")
    names = name or []
    if all_daemons or len(names) > 1:
        given = [flag for flag, value in (("--server-ip", server_ip), ("--port", port), ("--server-key", server_key),
                                          ("--histogram", histogram)) if value]  # fmt: skip
        if given:
            raise PingctlError(f"--all and several --name ping the daemons discovery finds: drop {', '.join(given)}")
        schedule = Schedule(count, interval, timeout, deadline)
        view = View(json_output, quiet, samples, color=not no_color and not os.environ.get("NO_COLOR"))
        raise typer.Exit(_ping_all(names, schedule, tuple(mdns_interface or ()), view, domain))
    import zmq

    from pingctl import session as sessions
    from pingctl.connect import connect as reach
    from pingctl.show import output, render
    from pingctl.stats import Running
    from pingctl.stats import histogram as make_histogram

    running = Running()

    def interim(signum, frame):
        print(render.interim_line(running), file=sys.stderr, flush=True)

    # From the start, so SIGQUIT (Ctrl-\) during discovery shows "0/0" instead of killing pingctl.
    previous = signal.signal(signal.SIGQUIT, interim)
    context = zmq.Context()
    try:
        wanted = _wanted(server_ip, port, names[0] if names else None, discovery_timeout, mdns_interface,
                         server_key, domain)  # fmt: skip
        client, status = reach(wanted, timeout, quiet=json_output, context=context)
    except BaseException:
        signal.signal(signal.SIGQUIT, previous)
        raise
    target = client.target
    out = output.choose(
        json_output=json_output,
        quiet=quiet,
        terminal=sys.stdout.isatty(),
        transient=True,
        color=not no_color and not os.environ.get("NO_COLOR"),
    )
    server_count: list[int | None] = [None]
    events, panels = out.shows_events, out.shows_panels  # with --json or --quiet: neither

    def on_result(index, result):
        running.add(result.rtt_ms if result.ok else None)
        if result.count is not None:
            server_count[0] = result.count
        if events:
            out.event(render.result_line(index, result, target, timeout), failed=not result.ok)
        if panels:
            out.panel(render.progress(running, count, server_count[0]))

    session = sessions.Session(client, count, interval, deadline=deadline, on_result=on_result)
    out.header(render.session_header(target, count, interval, status))
    try:
        with out:
            sessions.run([session], interrupt=context.term)  # like ping: Ctrl-C ends it and shows what ran
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGQUIT, previous)
        client.close()
    summary = session.summary()
    buckets = make_histogram(session.rtts()) if histogram else []
    if json_output:
        report = render.session_json(summary, session.last_count, target, status)
        if histogram:
            report["histogram"] = render.histogram_json(buckets)
        if samples:
            report["samples"] = render.samples_json(session.results)
        print(json.dumps(report, indent=2))
    else:
        if not quiet:
            print()
        name_shown = status.name or target.display
        lines = render.summary_lines(name_shown, summary, session.last_count)
        if histogram:
            lines += render.histogram_lines(buckets)
        print("\n".join(lines))
    raise typer.Exit(EXIT_OK if summary.received else EXIT_NO_REPLY)


@dataclass(frozen=True)
class Schedule:
    """What every session of `ping --all` does: the same count, interval and limits."""

    count: int
    interval: float
    timeout: float
    deadline: float | None


@dataclass(frozen=True)
class View:
    json_output: bool
    quiet: bool
    samples: bool
    color: bool


def _ping_all(
    names: list[str], schedule: Schedule, interfaces: tuple[str, ...], view: View, domain: str | None = None
) -> int:
    """ping --all (or several --name): 0 when every daemon answered, 1 when one answered
    nothing, 2 when none was found."""
    from pingctl import fleet
    from pingctl import session as sessions
    from pingctl.connect import reach_all
    from pingctl.show import board, output, render

    found = _browse(DISCOVER_WINDOW, interfaces, domain).found
    where = _searched(domain)
    missing: list[str] = []
    if names:
        by_name = {f.name.lower(): f for f in found}
        wanted = dict.fromkeys(n.lower() for n in names)
        missing = [n for n in names if n.lower() not in by_name]
        found = [by_name[n] for n in wanted if n in by_name]
        if not found:
            raise PingctlError(
                f"no pingd named {', '.join(repr(n) for n in missing)} {where}; check the names with pingctl discover"
            )
    if not found:
        raise PingctlError(f"no pingd {where}; give an address with --server-ip")
    context = fleet.context_for(len(found))
    answers = reach_all(found, schedule.timeout, context)
    lanes = [_lane(answer, schedule) for answer in answers]
    lanes += [board.Lane(n, "?", error=f"not {where}") for n in missing]
    running = [lane.session for lane in lanes if lane.session is not None]
    for i, session in enumerate(running):
        # A fraction of the interval apart, so the daemons are not all pinged at one instant.
        session.offset = i * schedule.interval / len(running)

    def interim(signum, frame):
        print("\n".join(board.interim_lines(lanes)), file=sys.stderr, flush=True)

    out = output.choose(
        json_output=view.json_output, quiet=view.quiet, terminal=sys.stdout.isatty(), color=view.color, transient=False
    )
    redraw = None
    if out.shows_panels:
        pings = f"{schedule.count} pings each" if schedule.count else "pings until stopped"
        out.header(f"PING {len(running)} daemons: {pings}, interval {schedule.interval:g} s")
        redraw = lambda: out.panel([("\n".join(render.table(board.rows(lanes))), "")])  # noqa: E731
    previous = signal.signal(signal.SIGQUIT, interim)
    try:
        with out:
            sessions.run(running, interrupt=context.term, redraw=redraw)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGQUIT, previous)
        for session in running:
            session.client.close()
    if view.json_output:
        print(json.dumps(board.documents(lanes, view.samples), indent=2))
    elif not out.shows_panels:
        print("\n".join(board.summary_lines(lanes)))
    return EXIT_OK if all(lane.answered for lane in lanes) else EXIT_NO_REPLY


def _browse(timeout: float, interfaces: tuple[str, ...], domain: str | None, notes: bool = True):
    """What discovery finds (a ``Browsed``); what it left out is said on stderr, a line each."""
    from pingctl.find import search

    seen = search.browse(timeout, interfaces, domain)
    window = f"the {timeout:g} s window" if domain is None else f"the {timeout:g} s deadline"
    for note in seen.notes(window) if notes else ():
        print(f"pingctl: {shown(note)}", file=sys.stderr)
    return seen


def _searched(domain: str | None) -> str:
    """How discovery looked, for messages: "found within 1 s" or "registered in example.org"."""
    return f"registered in {domain}" if domain else f"found within {DISCOVER_WINDOW:g} s"


def _lane(answer, schedule: Schedule):
    """A daemon's lane in `ping --all`: a session if it answered, else why not."""
    from pingctl.session import Session
    from pingctl.show import board

    found = answer.found
    if answer.client is None or answer.status is None or answer.target is None:
        where = found.targets()[0].display if found.addresses else "?"
        return board.Lane(found.name, where, error=explain(answer.error) if answer.error else "announced no address")
    session = Session(answer.client, schedule.count, schedule.interval, schedule.deadline)
    return board.Lane(answer.status.name or found.name, answer.target.display, session, answer.target, answer.status)


@app.command()
def status(
    server_ip: ServerIp = None,
    port: Port = None,
    name: Name = None,
    timeout: Timeout = 1.0,
    discovery_timeout: DiscoveryTimeout = 3.0,
    mdns_interface: MdnsInterface = None,
    json_output: Json = False,
    watch: Annotated[
        Optional[float],
        typer.Option(
            "--watch",
            help="Refresh every S seconds until interrupted (--watch alone: every 1 s).",
            show_default=False,
            metavar="[S]",
        ),
    ] = None,
    server_key: ServerKey = None,
    all_daemons: Annotated[
        bool,
        typer.Option("--all", help=f"Every daemon discovery finds (listening {DISCOVER_WINDOW:g} s): one table."),
    ] = False,
    domain: Domain = None,
) -> None:
    """Show a daemon's count, identity, uptime and durability (or every daemon's, with --all)."""
    from pingctl.show import render

    _check_seconds("--watch", watch, MAX_INTERVAL)
    _check_seconds("--timeout", timeout, MAX_TIMEOUT)
    if all_daemons:
        if server_ip is not None or name is not None or watch is not None or server_key is not None:
            raise PingctlError(
                "--all asks every daemon discovery finds: drop --server-ip, --name, --watch, --server-key"
            )
        raise typer.Exit(_status_all(timeout, tuple(mdns_interface or ()), json_output, domain))
    wanted = _wanted(server_ip, port, name, discovery_timeout, mdns_interface, server_key, domain)
    from pingctl.connect import connect as reach

    client, info = reach(wanted, timeout, quiet=json_output)
    if watch is None:
        client.close()
        if json_output:
            print(json.dumps(render.status_json(info, client.target), indent=2))
        else:
            print("\n".join(render.status_lines(client.target, info)))
        return
    from pingctl.show.status_watch import watch_status

    try:
        from pingctl.show import output

        terminal = sys.stdout.isatty()
        out = output.choose(
            json_output=json_output, terminal=terminal, color=not os.environ.get("NO_COLOR"), transient=False
        )
        watch_status(client, info, watch, out)
    except KeyboardInterrupt:
        pass
    finally:
        client.close()


def _status_all(timeout: float, interfaces: tuple[str, ...], json_output: bool, domain: str | None = None) -> int:
    """status --all: 0 when every daemon answered, 1 when some did not, 2 when none was found."""
    from pingctl import fleet
    from pingctl.connect import reach_all
    from pingctl.show import render

    found = _browse(DISCOVER_WINDOW, interfaces, domain).found
    if not found:
        raise PingctlError(f"no pingd {_searched(domain)}; give an address with --server-ip")
    context = fleet.context_for(len(found))
    try:
        results = fleet.closed(reach_all(found, timeout, context))
    finally:
        context.destroy(linger=0)
    if json_output:
        documents = [
            render.status_json(r.status, r.target)
            if r.status is not None and r.target is not None
            else {
                "name": r.found.name,
                "addresses": list(r.found.addresses),
                "error": explain(r.error) if r.error else None,
            }
            for r in results
        ]
        print(json.dumps(documents, indent=2))
    else:
        print("\n".join(render.table(render.fleet_status_rows(results, explain))))
    return EXIT_OK if all(r.status is not None for r in results) else EXIT_NO_REPLY


def _watch_daemons(interfaces: tuple[str, ...], json_output: bool, domain: str | None = None) -> None:
    """discover --watch: a live list on a terminal; piped, an event line per change
    (`+ name address:port node version` / `- name`); with --json, one object per event.
    Over mDNS it hears announcements and goodbyes; in a DNS domain it asks again every 5 s."""
    from pingctl.find.found import Found
    from pingctl.show import output, render

    if domain is not None:
        from pingctl.find import widearea

        events = widearea.watch(domain)
        listening = f"asking {domain} every {widearea.WATCH_EVERY:g} s"
    else:
        from pingctl.find import mdns

        events = mdns.watch(interfaces)
        listening = "listening"

    out = output.choose(json_output=json_output, terminal=sys.stdout.isatty(), color=True, transient=False)
    present: dict[str, Found] = {}
    header: tuple[str, ...] = ("NAME", "ADDRESSES", "PORT", "VERSION", "NODE ID")
    with out:
        out.panel([(f"({listening} for pingd daemons; Ctrl-C to stop)", "")])
        for what in events:
            if isinstance(what, Found):
                present[what.name] = what
                where = ",".join(t.display for t in what.targets())
                line = f"+ {what.name} {where} {what.node_id or '?'} {what.version or '?'}"
                document = {"event": "added", **what.as_dict()}
            else:
                present.pop(what, None)
                line, document = f"- {what}", {"event": "removed", "name": what}
            rows = [header]
            rows += [
                (f.name, ",".join(f.addresses), str(f.port), f.version or "?", f.node_id or "?")
                for f in sorted(present.values(), key=lambda f: f.name.lower())
            ]
            out.state(shown(line), [("\n".join(render.table(rows)), "")], document)


#: How long `discover` (and `status --all`) listen by default: answers come within
#: milliseconds; the rest of the second covers a loaded host and a lost first answer.
DISCOVER_WINDOW = 1.0


@app.command()
def discover(
    timeout: Annotated[float, typer.Option(help="Seconds to listen for daemons.")] = DISCOVER_WINDOW,
    mdns_interface: MdnsInterface = None,
    json_output: Json = False,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch",
            help=(
                "Keep listening: show daemons as they come and go, until interrupted (as avahi-browse). "
                "With --domain, the domain is asked again every 5 s."
            ),
        ),
    ] = False,
    domain: Domain = None,
) -> None:
    """List every pingd announced on the LAN (mDNS/DNS-SD) or registered in a DNS domain."""
    _check_seconds("--timeout", timeout, MAX_DISCOVERY)

    if watch:
        try:
            _watch_daemons(tuple(mdns_interface or ()), json_output, domain)
        except KeyboardInterrupt:
            pass
        return

    seen = _browse(timeout, tuple(mdns_interface or ()), domain, notes=True)
    found = seen.found
    if json_output:
        print(json.dumps([f.as_dict() for f in found], indent=2))
    elif not found and not seen.unresolved and not seen.ignored:
        print(f"no pingd {f'registered in {domain}' if domain else f'found within {timeout:g} s'}", file=sys.stderr)
    if json_output or not found:
        # Some were seen, but none could be listed: say so in the exit code too.
        raise typer.Exit(EXIT_NO_REPLY if seen.unresolved and not found else EXIT_OK)
    from pingctl.show import render

    rows: list[tuple[str, ...]] = [("NAME", "ADDRESSES", "PORT", "VERSION", "NODE ID", "HOST")]
    rows += [(f.name, ",".join(f.addresses), str(f.port), f.version or "?", f.node_id or "?", f.host) for f in found]
    print("\n".join(render.table(rows)))


keys_app = typer.Typer(help="pingctl's own CURVE key pair, for daemons that admit listed clients only.")
app.add_typer(keys_app, name="keys")


@keys_app.command("show")
def keys_show(
    cert: Annotated[
        bool, typer.Option("--cert", help="Print a certificate file for the daemon's --allow-clients directory.")
    ] = False,
) -> None:
    """Print this client's public key (made on first use), to hand to a daemon's operator."""
    from pingctl import trust

    pair = trust.client_keys()
    if cert:
        from pingd.shared.keys import certificate

        print(certificate(pair.public, None), end="")
    else:
        print(pair.public)


def _optional_watch_value(argv: list[str]) -> list[str]:
    """Let `status --watch` stand alone (every 1 s) as well as take a value. (`discover
    --watch` is a plain switch.)"""
    out = []
    for i, arg in enumerate(argv):
        out.append(arg)
        if arg == "--watch" and "status" in argv[:i]:
            following = argv[i + 1] if i + 1 < len(argv) else ""
            try:
                float(following)
            except ValueError:
                out.append("1")
    return out


def main(argv: list[str] | None = None) -> None:
    """Run pingctl; every expected failure ends as one line on stderr and its exit code."""
    from pingd.shared import usage

    args = _optional_watch_value(sys.argv[1:] if argv is None else argv)
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
