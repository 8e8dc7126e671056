"""Compare mutmut's results with the mutants listed as equivalent; exit 1 if any other one lived.

Run from the project's root after ``mutmut run`` (``make mutate`` does both)::

    python tests/mutation/check.py

``equivalent.txt`` beside this script lists the mutants no test can tell from the original code,
each with the reason and the line mutmut changed (as ``mutmut show NAME`` prints it)::

    pingd.settings.x__port__mutmut_9: why no test can tell it from the original
        + if not 0 <= port <= 65535:

The line is checked as well as the name, because mutmut numbers a function's mutants in order:
an edit to the function renumbers them, and a name alone could then excuse another mutant.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

LIST = Path(__file__).with_name("equivalent.txt")
#: mutmut's verdicts that mean a test noticed the mutant (a timeout: the tests hung on it).
DETECTED = frozenset({"killed", "caught by type check", "timeout"})


@dataclass
class Entry:
    name: str
    reason: str
    mutated: list[str] = field(default_factory=list)


def read_list(text: str) -> dict[str, Entry]:
    """The entries of equivalent.txt; ValueError naming the line that is not one."""
    entries: dict[str, Entry] = {}
    last: Entry | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith((" ", "\t")):
            if last is None or not line.strip().startswith("+ "):
                raise ValueError(f"line {number}: expected '    + the mutated line' under an entry")
            last.mutated.append(line.strip()[2:].strip())
            continue
        name, colon, reason = line.partition(":")
        if not colon or not reason.strip() or " " in name:
            raise ValueError(f"line {number}: expected 'NAME: reason'")
        if name in entries:
            raise ValueError(f"line {number}: {name} is listed twice")
        entries[name] = last = Entry(name, reason.strip())
    return entries


def parse_results(output: str) -> dict[str, str]:
    """``mutmut results --all true``: one ``NAME: STATUS`` a line."""
    statuses = {}
    for line in output.splitlines():
        name, colon, status = line.strip().rpartition(": ")
        if colon:
            statuses[name] = status
    return statuses


def mutated_lines(diff: str) -> list[str]:
    """The lines a mutant's diff adds, stripped."""
    return [line[1:].strip() for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]


def problems(statuses: dict[str, str], listed: dict[str, Entry], diffs: dict[str, str]) -> list[str]:
    """Every mutant that lived without being listed, and every entry that no longer holds."""
    out = []
    for name, status in sorted(statuses.items()):
        if status not in DETECTED and name not in listed:
            out.append(f"{name}: {status}, and not listed as equivalent (mutmut show {name})")
    for name, entry in listed.items():
        now = statuses.get(name)
        if now is None:
            out.append(f"{name}: listed as equivalent, but there is no such mutant now: remove it")
        elif now != "survived":
            out.append(f"{name}: listed as equivalent, but it is {now} now: remove it")
        elif mutated_lines(diffs.get(name, "")) != entry.mutated:
            lines = " / ".join(mutated_lines(diffs.get(name, ""))) or "(no diff)"
            out.append(f"{name}: the list says it mutates {' / '.join(entry.mutated)!r}, but it mutates {lines!r} now")
    return out


def _mutmut(mutmut: str, *args: str) -> str:
    return subprocess.run([mutmut, *args], check=True, capture_output=True, text=True).stdout


def main() -> int:
    mutmut = str(Path(sys.executable).parent / "mutmut")
    try:
        listed = read_list(LIST.read_text(encoding="utf-8"))
    except ValueError as exc:
        print(f"{LIST}: {exc}", file=sys.stderr)
        return 2
    statuses = parse_results(_mutmut(mutmut, "results", "--all", "true"))
    if not statuses:
        print("no mutmut results: run `mutmut run` first", file=sys.stderr)
        return 2
    to_show = [name for name in listed if statuses.get(name) == "survived"]
    with ThreadPoolExecutor(max_workers=4) as pool:
        diffs = dict(zip(to_show, pool.map(lambda name: _mutmut(mutmut, "show", name), to_show), strict=True))

    counts = Counter(statuses.values())
    detected = sum(counts[status] for status in DETECTED)
    equivalent = sum(1 for name in listed if statuses.get(name) == "survived")
    judged = len(statuses) - equivalent
    print(f"{len(statuses)} mutants: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    print(f"{equivalent} of the survivors are listed as equivalent in {LIST.name}")
    print(f"kill rate: {detected} / {judged} = {100 * detected / judged:.1f} % (equivalent mutants excluded)")
    found = problems(statuses, listed, diffs)
    for problem in found:
        print(problem)
    if found:
        print(f"{len(found)} to fix: kill each with a test, or list it in {LIST} with the reason it is equivalent")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
