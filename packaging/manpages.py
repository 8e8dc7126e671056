"""Write the man pages pingd(8) and pingctl(1) from the commands themselves.

Every option, its help text and its default come from the same (click) objects that print
``--help``, so a page cannot say something the program does not; only the sections that
``--help`` has no place for (exit status, files, see also) are written here.

The option tables of the Markdown documents come from the same objects: a table between
``<!-- options:begin pingctl ping -->`` and ``<!-- options:end -->`` is made anew from that
command's options (``make docs``), and a test fails when one is not what they say.

    python packaging/manpages.py OUTPUT_DIR
    python packaging/manpages.py --markdown FILE...
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import typer

from pingd import __version__


def page_date() -> str:
    """The page's date: the release's (dpkg-buildpackage sets SOURCE_DATE_EPOCH from the
    changelog, so a rebuild makes the same page), else today."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    return time.strftime("%Y-%m-%d", time.gmtime(int(epoch) if epoch else None))


def roff(text: str) -> str:
    """Text safe for a roff line: backslashes and hyphens escaped, no line starting a request."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(("\\&" + line) if line.startswith((".", "'")) else line for line in text.splitlines())


def _paragraphs(text: str) -> list[str]:
    """click's help text: paragraphs split by blank lines, each joined into one line."""
    return [" ".join(p.split()) for p in text.strip().split("\n\n") if p.strip()]


def _options(command: Any, ctx: Any) -> list[str]:
    lines: list[str] = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        opts, help_text = record
        lines += [".TP", f"\\fB{roff(opts)}\\fR", roff(" ".join(help_text.split())) if help_text else ""]
    return lines


def _synopsis(name: str, command: Any, ctx: Any) -> str:
    pieces = " ".join(command.collect_usage_pieces(ctx))
    return f".B {roff(name)}\n{roff(pieces)}"


#: A section's paragraphs: plain text, or a (term, text) pair for a tagged one.
Paragraphs = list[str | tuple[str, str]]


def page(app: Any, name: str, section: int, summary: str, extra: dict[str, Paragraphs]) -> str:
    """The man page of ``app``: its usage, help and options, and each subcommand's."""
    command = typer.main.get_command(app)
    ctx = command.context_class(command, info_name=name, **command.context_settings)
    out = [
        f'.TH {name.upper()} {section} "{page_date()}" "pingd {__version__}" "pingd"',
        ".SH NAME",
        f"{roff(name)} \\- {roff(summary)}",
        ".SH SYNOPSIS",
    ]
    subcommands = _subcommands(command, ctx)
    if subcommands:
        for path, sub, sub_ctx in subcommands:
            out += [_synopsis(path, sub, sub_ctx), ".br"]
    else:
        out.append(_synopsis(name, command, ctx))
    out.append(".SH DESCRIPTION")
    for paragraph in _paragraphs(command.help or ""):
        out += [".PP", roff(paragraph)]
    out += [".SH OPTIONS", *_options(command, ctx)]
    if subcommands:
        out.append(".SH COMMANDS")
        for path, sub, sub_ctx in subcommands:
            out += [".SS " + roff(path)]
            for paragraph in _paragraphs(sub.help or ""):
                out += [".PP", roff(paragraph)]
            out += _options(sub, sub_ctx)
    for heading, paragraphs in extra.items():
        out.append(f".SH {heading}")
        for item in paragraphs:
            if isinstance(item, tuple):  # a tagged paragraph: (term, text)
                out += [".TP", f"\\fB{roff(item[0])}\\fR", roff(item[1])]
            else:
                out += [".PP", roff(item)]
    return "\n".join(line for line in out if line != "") + "\n"


def _subcommands(command: Any, ctx: Any) -> list[tuple[str, Any, Any]]:
    """Every leaf command under ``command`` (``pingctl keys show`` included), with its path."""
    if not hasattr(command, "list_commands"):  # a group (typer vendors click: no isinstance)
        return []
    found: list[tuple[str, Any, Any]] = []
    for sub_name in command.list_commands(ctx):
        sub = command.get_command(ctx, sub_name)
        if sub is None or sub.hidden:
            continue
        sub_ctx = sub.context_class(sub, info_name=sub_name, parent=ctx, **sub.context_settings)
        found += _subcommands(sub, sub_ctx) or [(sub_ctx.command_path, sub, sub_ctx)]
    return found


def settings_section() -> Paragraphs:
    """Where each setting can come from besides its flag, and what a SIGHUP does with it: from the
    settings' own declarations (pingd.settings), like the options above; which files a command
    run by hand on the service's host reads, from where pingd.configfile knows the service's."""
    from pingd.config import CONFIG_NAME, STATE_NAME
    from pingd.configfile import SERVICE_DIRECTORIES
    from pingd.settings import SETTINGS

    live = ", ".join(s.key for s in SETTINGS if s.reloadable) or "none"
    config_file = f"{SERVICE_DIRECTORIES['CONFIGURATION_DIRECTORY']}/{CONFIG_NAME}"
    state_file = f"{SERVICE_DIRECTORIES['STATE_DIRECTORY']}/{STATE_NAME}"
    out: Paragraphs = [
        "Every setting can also come from a PINGD_* environment variable or a TOML file (--config, "
        "$PINGD_CONFIG, else pingd.toml in $CONFIGURATION_DIRECTORY or the user's config directory) under the "
        "key below; the command line wins over the environment, which wins over the file. SIGHUP (systemctl "
        f"reload pingd) re-reads the file and applies what can change while running ({live}); the rest needs "
        "a restart. A list is comma-separated in the environment and a TOML array in the file.",
        "Run by hand (not by systemd) on a host where the pingd service's unit is installed, --check-config and "
        f"--print-dns-records read the service's files, as systemd gives them to it: {config_file} and "
        f"{state_file}, unless --config, $PINGD_CONFIG, --state-file or $PINGD_STATE_FILE name others. They say "
        "on stderr which files they read and whose they are (--quiet keeps that line back); a file of the "
        "service's that this user may not read is an error saying so (run as root, or name your own with "
        "--config and --state-file). --print-dns-records only reads the service's state file and CURVE key: "
        "one that does not exist yet is an error (exit 3), never made. A pingd started by hand to serve, and both "
        "commands on a host without the service, read the user's own files.",
    ]
    for s in SETTINGS:
        when = "a SIGHUP applies a change" if s.reloadable else "a change needs a restart"
        out.append((f"{s.key}, {s.env}", f"As {s.flag}; {when}."))
    return out


def pingd_extra() -> dict[str, Paragraphs]:
    return {"SETTINGS": settings_section(), **PINGD_EXTRA}


PINGD_EXTRA: dict[str, Paragraphs] = {
    "EXIT STATUS": [
        "0: stopped cleanly (SIGTERM or SIGINT), the count on disk. 1: an unexpected failure. 2: bad flags or "
        "settings. 3: the state file (or a key file) cannot be used. 4: the address cannot be listened on.",
    ],
    "FILES": [
        "/etc/pingd/pingd.toml: the settings (a conffile of the Debian package).",
        "/var/lib/pingd/state.json: the count (under systemd's DynamicUser, /var/lib/private/pingd), "
        "with the CURVE key pair beside it when --curve is on.",
    ],
    "SEE ALSO": [
        "pingctl(1), systemctl(1), journalctl(1), systemd.exec(5)",
        "/usr/share/doc/pingd/operating.md.gz: installing, settings, the state file, the unit, reload, socket "
        "activation, DNS registration, security, upgrades and removal, with real sessions.",
    ],
}

PINGCTL_EXTRA: dict[str, Paragraphs] = {
    "EXIT STATUS": [
        "As iputils ping: 0 at least one pong arrived (with --all: every daemon answered), or the command did "
        "its job; 1 pings went out and no pong came back, a daemon that takes the connection and never answers "
        "included (with --all: some daemon answered nothing); 2 any other error: bad arguments, no daemon found, "
        "an unreachable or refusing daemon, another protocol version.",
    ],
    "SEE ALSO": ["pingd(8), ping(8), avahi-browse(1)"],
}


def write(directory: Path) -> list[Path]:
    from pingctl.cli import app as pingctl_app
    from pingd.cli import app as pingd_app

    directory.mkdir(parents=True, exist_ok=True)
    pages = {
        "pingd.8": page(pingd_app, "pingd", 8, "count pings over ZeroMQ, announce over mDNS, never lose the count",
                        pingd_extra()),
        "pingctl.1": page(pingctl_app, "pingctl", 1, "find pingd daemons on the LAN, ping them, show their status",
                          PINGCTL_EXTRA),
    }  # fmt: skip
    written = []
    for filename, text in pages.items():
        path = directory / filename
        path.write_text(text)
        written.append(path)
    return written


# --- the option tables of the Markdown documents ----------------------------------------------

#: A generated table: the command's path, then the table up to the end marker.
TABLE = re.compile(r"(<!-- options:begin (?P<command>[\w ]+?) -->\n)(?P<table>.*?)(<!-- options:end -->)", re.S)


def commands() -> dict[str, tuple[Any, Any]]:
    """Every command with its context, by the path a reader types: ``pingd``, ``pingctl`` (its
    own options), ``pingctl ping`` ... ``pingctl keys show``."""
    from pingctl.cli import app as pingctl_app
    from pingd.cli import app as pingd_app

    found: dict[str, tuple[Any, Any]] = {}
    for name, app in (("pingd", pingd_app), ("pingctl", pingctl_app)):
        command = typer.main.get_command(app)
        ctx = command.context_class(command, info_name=name, **command.context_settings)
        found[name] = (command, ctx)
        for path, sub, sub_ctx in _subcommands(command, ctx):
            found[path] = (sub, sub_ctx)
    return found


def _cell(text: str) -> str:
    """Help text as one Markdown table cell: one line, and nothing read as markup."""
    text = " ".join(text.split())
    for char in ("\\", "|", "*", "<"):
        text = text.replace(char, "\\" + char)
    return text


def option_table(command: Any, ctx: Any) -> str:
    """The options of ``command`` as a Markdown table: each as --help and the page show it."""
    rows = ["| option | meaning |", "| --- | --- |"]
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is not None:
            rows.append(f"| `{record[0]}` | {_cell(record[1])} |")
    return "\n".join(rows) + "\n"


def refresh(text: str, known: dict[str, tuple[Any, Any]] | None = None) -> str:
    """``text`` with every generated option table made anew; an unknown command is a KeyError."""
    known = commands() if known is None else known

    def table(match: re.Match[str]) -> str:
        command, ctx = known[match["command"]]
        return match.group(1) + option_table(command, ctx) + match.group(4)

    return TABLE.sub(table, text)


def refresh_files(paths: list[Path]) -> list[Path]:
    """Rewrite the tables of each file in ``paths``; the files that changed."""
    known = commands()
    changed = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        new = refresh(text, known)
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


if __name__ == "__main__":
    if sys.argv[1:2] == ["--markdown"]:
        for path in refresh_files([Path(arg) for arg in sys.argv[2:]]):
            print(f"{path}: option tables made anew")
    else:
        for path in write(Path(sys.argv[1])):
            print(path)
