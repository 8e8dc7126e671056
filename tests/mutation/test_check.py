"""The checker `make mutate` ends with: which survivors it accepts, and which entries it rejects."""

import pytest

from tests.mutation import check

LIST = """\
# a comment
a.x_f__mutmut_1: codec names are case-insensitive
    + return b.decode("UTF-8")

a.x_g__mutmut_2: another reason: with a colon
    + x = 1
    + y = 2
"""

DIFF = """\
# a.x_f__mutmut_1: survived
--- a.py
+++ a.py
@@ -1,3 +1,3 @@
 def f(b):
-    return b.decode("utf-8")
+    return b.decode("UTF-8")
"""


def test_the_list_is_read_with_reasons_and_mutated_lines() -> None:
    entries = check.read_list(LIST)
    assert list(entries) == ["a.x_f__mutmut_1", "a.x_g__mutmut_2"]
    assert entries["a.x_f__mutmut_1"].reason == "codec names are case-insensitive"
    assert entries["a.x_f__mutmut_1"].mutated == ['return b.decode("UTF-8")']
    assert entries["a.x_g__mutmut_2"].reason == "another reason: with a colon"
    assert entries["a.x_g__mutmut_2"].mutated == ["x = 1", "y = 2"]


@pytest.mark.parametrize(
    "text, problem",
    [
        ("a.x_f__mutmut_1\n", "line 1: expected 'NAME: reason'"),
        ("a.x_f__mutmut_1:   \n", "line 1: expected 'NAME: reason'"),
        ("    + x = 1\n", "line 1: expected '    + the mutated line' under an entry"),
        ("a.x_f__mutmut_1: r\na.x_f__mutmut_1: r\n", "line 2: a.x_f__mutmut_1 is listed twice"),
    ],
)
def test_a_list_that_is_not_well_formed_is_refused(text: str, problem: str) -> None:
    with pytest.raises(ValueError) as info:
        check.read_list(text)
    assert str(info.value) == problem


def test_results_and_diffs_are_read() -> None:
    assert check.parse_results("    a.x_f__mutmut_1: survived\n    a.x_f__mutmut_2: no tests\n") == {
        "a.x_f__mutmut_1": "survived",
        "a.x_f__mutmut_2": "no tests",
    }
    assert check.mutated_lines(DIFF) == ['return b.decode("UTF-8")']


def test_only_listed_survivors_with_the_listed_mutation_pass() -> None:
    listed = check.read_list("a.x_f__mutmut_1: codec names are case-insensitive\n" + '    + return b.decode("UTF-8")\n')
    statuses = {"a.x_f__mutmut_1": "survived", "a.x_f__mutmut_2": "killed", "a.x_f__mutmut_3": "timeout"}
    assert check.problems(statuses, listed, {"a.x_f__mutmut_1": DIFF}) == []

    unlisted = statuses | {"a.x_f__mutmut_4": "survived", "a.x_f__mutmut_5": "no tests"}
    assert check.problems(unlisted, listed, {"a.x_f__mutmut_1": DIFF}) == [
        "a.x_f__mutmut_4: survived, and not listed as equivalent (mutmut show a.x_f__mutmut_4)",
        "a.x_f__mutmut_5: no tests, and not listed as equivalent (mutmut show a.x_f__mutmut_5)",
    ]


def test_an_entry_that_no_longer_holds_is_reported() -> None:
    listed = check.read_list("a.x_f__mutmut_1: reason\n    + return b.decode(None)\n")
    assert check.problems({"a.x_f__mutmut_1": "killed"}, listed, {}) == [
        "a.x_f__mutmut_1: listed as equivalent, but it is killed now: remove it"
    ]
    assert check.problems({}, listed, {}) == [
        "a.x_f__mutmut_1: listed as equivalent, but there is no such mutant now: remove it"
    ]
    assert check.problems({"a.x_f__mutmut_1": "survived"}, listed, {"a.x_f__mutmut_1": DIFF}) == [
        "a.x_f__mutmut_1: the list says it mutates 'return b.decode(None)', "
        "but it mutates 'return b.decode(\"UTF-8\")' now"
    ]


def test_the_list_in_the_tree_is_well_formed() -> None:
    entries = check.read_list(check.LIST.read_text(encoding="utf-8"))
    assert all(entry.mutated for entry in entries.values())
