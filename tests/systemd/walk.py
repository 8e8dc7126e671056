"""The operator's document, walked: its marked command blocks are run as written and their
output compared with what the document shows.

A walked block in docs/operating.md is a ```console fence right after a line
``<!-- walk: NAME -->``. In it, a line starting with ``$ `` is a command (a line ending in ``\\``
goes on to the next; a here-document's lines, up to its end word, are part of it) and the lines
after it, up to the next command, are its output as the document shows it. A command exits 0
unless its comment says ``# exits N``.

Shown output is real output, abridged: each line shown must be one of the command's lines, in
the order shown, with ``…`` standing for any text and runs of spaces for any run of spaces.
A node id (16 hexadecimal digits) stands for any node id, since every install makes its own.
A prompt shown with an answer (``Do you want to continue? [Y/n] y``) gets that answer.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "docs" / "operating.md"
_BLOCK = re.compile(r"^<!-- walk: ([\w-]+) -->\n```console\n(.*?)^```$", re.M | re.S)
_EXITS = re.compile(r"#.*\bexits (\d+)\b[^\n]*$", re.M)
_HEREDOC = re.compile(r"<<-?\s*(['\"]?)(\w+)\1")
_NODE_ID = re.compile(r"\b[0-9a-f]{16}\b")
_ANSWERED = re.compile(r"^(.*\[Y/n\]) (\w+)$")  # a prompt, and what the operator typed
_MARK = "@@walk@@"


@dataclass(frozen=True)
class Step:
    command: str  #: as bash runs it
    shown: tuple[str, ...]  #: the output the document shows
    status: int  #: the exit status the document says (0 unless "# exits N")

    @property
    def answers(self) -> list[str]:
        """What the operator types at the command's prompts, as the document shows them."""
        return [m.group(2) for line in self.shown if (m := _ANSWERED.match(line))]


@dataclass(frozen=True)
class Ran:
    step: Step
    output: list[str]  #: stdout and stderr, as one
    status: int

    def problems(self) -> list[str]:
        """What the document says that this run did not do (empty when it did all of it)."""
        found = []
        if self.status != self.step.status:
            found.append(f"exit status {self.status}, the document says {self.step.status}")
        missing = unmatched(self.step.shown, self.output)
        if missing is not None:
            found.append(f"no line like {missing!r} (in this order)")
        return found


def blocks(text: str | None = None) -> dict[str, list[Step]]:
    """Every walked block of the document, by name, in the document's order."""
    text = DOCUMENT.read_text(encoding="utf-8") if text is None else text
    found: dict[str, list[Step]] = {}
    for name, body in _BLOCK.findall(text):
        if name in found:
            raise ValueError(f"two blocks are named {name!r}")
        found[name] = steps(body)
    return found


def steps(body: str) -> list[Step]:
    """The commands of one block and the output shown after each."""
    lines = body.splitlines()
    out: list[Step] = []
    i = 0
    while i < len(lines):
        if not lines[i].startswith("$ "):
            raise ValueError(f"output before any command: {lines[i]!r}")
        command = [lines[i][2:]]
        i += 1
        while command[-1].endswith("\\") and i < len(lines):
            command.append(lines[i])
            i += 1
        head = "\n".join(command)  # the command line itself, without a here-document's lines
        heredoc = _HEREDOC.search(command[0])
        if heredoc:
            while i < len(lines) and lines[i - 1] != heredoc.group(2):
                command.append(lines[i])
                i += 1
        shown = []
        while i < len(lines) and not lines[i].startswith("$ "):
            shown.append(lines[i])
            i += 1
        exits = _EXITS.search(head)
        out.append(Step("\n".join(command), tuple(shown), int(exits.group(1)) if exits else 0))
    return out


def _normal(line: str) -> str:
    return _NODE_ID.sub("<node id>", " ".join(line.split()))


def _pattern(shown: str) -> re.Pattern[str]:
    answered = _ANSWERED.match(shown)
    if answered:  # typed at the prompt: not echoed, since the command's input is not a terminal
        shown = answered.group(1) + "…"
    return re.compile(".*".join(re.escape(piece) for piece in _normal(shown).split("…")))


def unmatched(shown: tuple[str, ...], output: list[str]) -> str | None:
    """The first line shown that the output has no line for, in order; None if all have one."""
    actual = [_normal(line) for line in output]
    at = 0
    for line in shown:
        if line.strip() == "…":
            continue
        pattern = _pattern(line)
        while at < len(actual) and not pattern.fullmatch(actual[at]):
            at += 1
        if at == len(actual):
            return line
        at += 1
    return None


def script(steps: list[Step], cwd: str) -> str:
    """One bash script for a block: the steps run in order, in one shell (so a `cd` holds), each
    one's output and status marked off. ``sudo`` is the operator's: the box runs as root. The
    journal is synchronised before each step (``journalctl --sync``), so a step that reads it
    sees every line logged before it began."""
    parts = ['sudo() { "$@"; }', f"cd {shlex.quote(cwd)}", "export LANG=C.UTF-8 SYSTEMD_COLORS=0"]
    for n, step in enumerate(steps):
        # What was logged before now is in the journal when the step reads it, as after the
        # moment an operator takes to type: journald handles what it has been sent first.
        parts.append("journalctl --sync >/dev/null 2>&1 || true")
        # The status on a line of its own, whether or not the output ended with a newline.
        answers = " <<< " + shlex.quote("\n".join(step.answers)) if step.answers else ""
        parts += [f"echo {_MARK}{n}", "{", step.command, "} 2>&1" + answers, f"printf '\\n{_MARK}{n} %d\\n' $?"]
    return "\n".join(parts) + "\n"


def results(steps: list[Step], stdout: str) -> list[Ran]:
    """Each step's output and status, from the marked output of ``script``."""
    ran = []
    for n, step in enumerate(steps):
        start = stdout.index(f"{_MARK}{n}\n") + len(f"{_MARK}{n}\n")
        end = re.compile(rf"^{_MARK}{n} (\d+)$", re.M).search(stdout, start)
        if end is None:
            raise AssertionError(f"the block stopped at {step.command!r}:\n{stdout[start:]}")
        ran.append(Ran(step, stdout[start : end.start()].splitlines(), int(end.group(1))))
    return ran
