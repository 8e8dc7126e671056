"""The documents stay true: every test they name as the proof of a promise exists, every
relative link and anchor resolves, and the module map names every module and nothing else.
A renamed test, a moved heading or a new module cannot leave a document pointing at nothing."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Every document of the project, for its readers.
DOCUMENTS = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
REFERENCE = re.compile(
    r"`(?:tests/)?((?:pingd|pingctl|integration|packaging|systemd)/(?:\w+/)*test_\w+\.py)(?:::(\w+))?"
)
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
CODE_SPAN = re.compile(r"(`+).*?\1", re.S)
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)
HTML_ANCHOR = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"", re.I)


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


def prose(text: str) -> str:
    """The text without its fenced code blocks and code spans, where nothing is a link or a heading."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text lowercased, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading: its text
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every anchor a document offers: its headings' (a repeated one gets -1, -2 …) and HTML ids."""
    seen: Counter[str] = Counter()
    out = set()
    for heading in HEADING.findall(FENCE.sub("", text)):
        base = slug(heading)
        out.add(f"{base}-{seen[base]}" if seen[base] else base)
        seen[base] += 1
    return out | set(HTML_ANCHOR.findall(text))


def broken_links(document: Path) -> list[str]:
    """The relative links of ``document`` whose file, or anchor in it, does not exist."""
    text = document.read_text(encoding="utf-8")
    out = []
    for target in LINK.findall(prose(text)):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: …: not ours to check
            continue
        path_part, _, anchor = target.partition("#")
        path = (document.parent / path_part).resolve() if path_part else document
        if not path.exists():
            out.append(f"{target}: no such file")
        elif anchor and (path.suffix != ".md" or anchor not in anchors(path.read_text(encoding="utf-8"))):
            out.append(f"{target}: no such anchor")
    return out


def test_every_document_is_checked():
    names = {str(d.relative_to(ROOT)) for d in DOCUMENTS}
    assert names >= {"README.md", "CONTRIBUTING.md", "CHANGELOG.md", "docs/using.md", "docs/robustness.md"}
    assert names >= {"docs/performance.md", "docs/architecture.md", "docs/protocol.md"}


def test_every_test_the_documents_name_exists():
    named = {d.name: references(d.read_text(encoding="utf-8")) for d in DOCUMENTS}
    assert len(named["robustness.md"]) > 100
    for document in DOCUMENTS:
        assert missing(document.read_text(encoding="utf-8"), ROOT / "tests") == [], document.name


def test_the_check_catches_a_test_that_moved(tmp_path):
    (tmp_path / "pingd").mkdir()
    (tmp_path / "pingd" / "test_a.py").write_text("def test_here():\n    pass\n")
    text = "`pingd/test_a.py::test_here` `tests/pingd/test_a.py::test_gone` `pingd/test_b.py` `pingd/cli.py`"
    assert missing(text, tmp_path) == ["pingd/test_a.py::test_gone", "pingd/test_b.py"]


def test_every_relative_link_and_anchor_resolves():
    linked = 0
    for document in DOCUMENTS:
        assert broken_links(document) == [], document.name
        linked += len(LINK.findall(prose(document.read_text(encoding="utf-8"))))
    assert linked > 30


def test_anchors_follow_githubs_rule():
    text = "# pingd\n## Security: plain, encrypted\n## `pingctl ping`\n## A — B\n## Notes\n## Notes\n"
    text += "```sh\n# a comment, not a heading\n```\n"
    assert anchors(text) == {"pingd", "security-plain-encrypted", "pingctl-ping", "a--b", "notes", "notes-1"}


def test_the_link_check_catches_a_missing_file_and_anchor(tmp_path):
    (tmp_path / "other.md").write_text("# Other\n## Its part\n")
    document = tmp_path / "doc.md"
    document.write_text(
        "# Doc\n[ok](other.md#its-part) [self](#doc) [web](https://example.org/x#y) `[code](nowhere.md)`\n"
        "[gone](gone.md) [no anchor](other.md#elsewhere) [no self](#nothing)\n"
        "```\n[in a block](also-gone.md)\n```\n"
    )
    assert broken_links(document) == [
        "gone.md: no such file",
        "other.md#elsewhere: no such anchor",
        "#nothing: no such anchor",
    ]


# --- the module map ------------------------------------------------------------------------------

ARCHITECTURE = ROOT / "docs" / "architecture.md"
MODULE = re.compile(r"`((?:pingd|pingctl)/[\w/]*\w\.py)`")


def modules() -> set[str]:
    """Every module of pingd and pingctl, by its path from the repository's root."""
    return {str(p.relative_to(ROOT)) for package in ("pingd", "pingctl") for p in (ROOT / package).rglob("*.py")}


def map_problems(document: str, existing: set[str]) -> list[str]:
    """How the module map of ``document`` differs from the modules that exist."""
    section = document.split("\n## Module map\n", 1)[1].split("\n## ", 1)[0]
    named = set(MODULE.findall(section))
    return [f"not in the map: {m}" for m in sorted(existing - named)] + [
        f"in the map, not in the code: {m}" for m in sorted(named - existing)
    ]


def test_the_module_map_names_every_module_and_nothing_else():
    existing = modules()
    assert len(existing) > 60 and "pingd/serve/loop.py" in existing
    assert map_problems(ARCHITECTURE.read_text(encoding="utf-8"), existing) == []


def test_every_module_the_architecture_names_exists():
    named = set(MODULE.findall(ARCHITECTURE.read_text(encoding="utf-8")))
    assert named - modules() == set()


def test_the_map_check_catches_a_missing_and_a_phantom_module():
    document = "# A\n## Module map\n`pingd/a.py` `pingd/gone.py`\n## Next\n`pingd/b.py`\n"
    assert map_problems(document, {"pingd/a.py", "pingd/b.py"}) == [
        "not in the map: pingd/b.py",
        "in the map, not in the code: pingd/gone.py",
    ]
