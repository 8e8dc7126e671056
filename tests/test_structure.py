"""The size rules of pingd and pingctl: no module over 400 lines, no function over 60, so that
nothing grows back into a 590-line cli.py with a 136-line ping(), or a Daemon doing five jobs.
Read from the files, so a new module is covered the day it is written."""

from __future__ import annotations

import ast
from pathlib import Path

import pingctl
import pingd

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
ROOTS = [Path(package.__file__).resolve().parent for package in (pingd, pingctl)]


def _modules() -> dict[str, str]:
    """Every module of pingd and pingctl, by its path from the repository's root."""
    return {
        str(path.relative_to(root.parent)): path.read_text() for root in ROOTS for path in sorted(root.rglob("*.py"))
    }


def long_functions(source: str) -> list[tuple[str, int]]:
    """Every function of ``source`` longer than the limit, decorators included."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            length = (node.end_lineno or node.lineno) - start + 1
            if length > MAX_FUNCTION_LINES:
                found.append((node.name, length))
    return found


def test_no_module_is_over_400_lines():
    modules = _modules()
    assert len(modules) > 60 and "pingctl/commands/ping.py" in modules and "pingd/serve/loop.py" in modules
    long = {name for name, text in modules.items() if len(text.splitlines()) > MAX_MODULE_LINES}
    assert long == set(), "split these modules"


def test_no_function_is_over_60_lines():
    long = {name: found for name, text in _modules().items() if (found := long_functions(text))}
    assert long == {}


def test_the_function_check_can_fail():
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    assert long_functions(f"@decorated\ndef f():\n{body}\n") == [("f", MAX_FUNCTION_LINES + 2)]
    assert long_functions(f"def f():\n{body[: body.rindex(chr(10))]}\n") == []
