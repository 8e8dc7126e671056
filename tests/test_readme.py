"""The README is a front door: it starts with the two commands that set everything up, those
commands run, every `make` target a document names exists, and it stays short enough to read."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.test_docs import DOCUMENTS, LINK, ROOT, prose

README = ROOT / "README.md"
#: The two commands a fresh machine needs, in the order the README must show them first.
FIRST = ["make demo", "make test"]
#: A command that runs make, as a code span or a line of a code block shows it.
MAKE = re.compile(r"^(?:\$ |sudo |[A-Z_]+=\S+ )*make (?:[A-Z_]+=\S+ |-\w+ )*([a-z][\w-]*)", re.M)
CODE = re.compile(r"^(```|~~~).*?\n(.*?)^\1|(`+)(.+?)\3", re.M | re.S)
TARGET = re.compile(r"^([a-z][\w-]*(?: [a-z][\w-]*)*):(?!=)", re.M)
MAX_LINES = 200


def first_commands(readme: str) -> list[str]:
    """The commands of the README's first code block, comments left out."""
    block = readme.split("```", 2)[1].split("\n", 1)[1]
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.split("#", 1)[0].strip()]


def targets(makefile: str) -> set[str]:
    return {name for names in TARGET.findall(makefile) for name in names.split()}


def unknown_targets(text: str, makefile: str) -> list[str]:
    """The ``make X`` that ``text`` names where the Makefile has no target X."""
    code = "\n".join(m.group(2) or m.group(4) for m in CODE.finditer(text))
    return sorted(set(MAKE.findall(code)) - targets(makefile))


def dry_run(target: str, directory: Path) -> subprocess.CompletedProcess:
    """``make -n TARGET``: the commands it would run, none run."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    return subprocess.run(["make", "-n", target], cwd=directory, capture_output=True, text=True, env=env, timeout=60)


def test_the_readme_starts_with_the_two_commands():
    readme = README.read_text(encoding="utf-8")
    assert first_commands(readme) == FIRST
    assert readme.index("make demo") < readme.index("\n## ")


def test_the_two_commands_run():
    for command in FIRST:
        target = command.split()[1]
        run = dry_run(target, ROOT)
        assert run.returncode == 0, f"make -n {target}: {run.stderr}"
        assert "pytest" in run.stdout if target == "test" else "demo.py" in run.stdout


def test_every_make_target_a_document_names_exists():
    makefile = (ROOT / "Makefile").read_text()
    assert {"demo", "test", "bench", "deb", "install", "docs", "mutate", "lock"} <= targets(makefile)
    for document in DOCUMENTS:
        assert unknown_targets(document.read_text(encoding="utf-8"), makefile) == [], document.name


def test_the_checks_catch_a_missing_target_and_a_failing_command(tmp_path):
    makefile = "demo:\n\techo demo.py\n\nbroken: missing-file\n\ttrue\n"
    text = "run `make demo`, then `COVERAGE=no make test`; make sense of it\n```sh\nsudo make install\n```\n"
    assert unknown_targets(text, makefile) == ["install", "test"]
    (tmp_path / "Makefile").write_text(makefile)
    assert dry_run("demo", tmp_path).returncode == 0
    assert dry_run("broken", tmp_path).returncode != 0
    assert dry_run("test", tmp_path).returncode != 0
    assert first_commands("# x\n\n```sh\nmake test   # first\nmake demo\n```\n") == ["make test", "make demo"]


def test_the_readme_is_a_front_door():
    readme = README.read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= MAX_LINES


def test_the_readme_points_to_every_document():
    linked = {target.partition("#")[0] for target in LINK.findall(prose(README.read_text(encoding="utf-8")))}
    documents = {str(d.relative_to(ROOT)) for d in DOCUMENTS if d != README}
    assert documents - linked == set()
