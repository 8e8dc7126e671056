"""The README names the test that holds each promise; a renamed or moved test must not leave it
pointing at nothing."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = re.compile(r"`((?:pingd|pingctl|integration|packaging|systemd)/(?:\w+/)*test_\w+\.py)(?:::(\w+))?")


def references(text: str) -> list[tuple[str, str | None]]:
    """Every ``tests/``-relative test file (and test name) the text names in backquotes."""
    return [(m.group(1), m.group(2)) for m in REFERENCE.finditer(text)]


def missing(text: str, tests: Path) -> list[str]:
    out = []
    for file, name in references(text):
        path = tests / file
        if not path.is_file():
            out.append(file)
        elif name is not None and f"def {name}(" not in path.read_text():
            out.append(f"{file}::{name}")
    return out


def test_every_test_the_readme_names_exists():
    readme = (ROOT / "README.md").read_text()
    assert len(references(readme)) > 20
    assert missing(readme, ROOT / "tests") == []


def test_the_check_catches_a_test_that_moved(tmp_path):
    (tmp_path / "pingd").mkdir()
    (tmp_path / "pingd" / "test_a.py").write_text("def test_here():\n    pass\n")
    text = "`pingd/test_a.py::test_here` `pingd/test_a.py::test_gone` `pingd/test_b.py` `pingd/cli.py`"
    assert missing(text, tmp_path) == ["pingd/test_a.py::test_gone", "pingd/test_b.py"]
