"""The state file's format: its bytes, and which bytes are a valid state (no files touched)."""

import json
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pingd.serve import statefile
from pingd.serve.statefile import State, StateFileError

#: How a 3,000-deep nesting is refused: before 3.13 the JSON decoder recurses out first;
#: 3.13's recurses ~10,000 deep, so it reaches the unbalanced end and says so.
DEEP = (
    "not a valid state (nested too deeply)"
    if sys.version_info < (3, 13)
    else "not valid JSON (Expecting ',' delimiter: line 1 column 4001 (char 4000))"
)


@given(st.integers(0, 2**64 - 1))
def test_rendered_file_is_json_with_the_count(count: int) -> None:
    assert json.loads(statefile.render("abc", count)) == {"format": 1, "node_id": "abc", "count": count}


def test_numbers_too_long_to_convert_are_refused_not_raised() -> None:
    data = b'{"format": 1, "node_id": "ab", "count": ' + b"9" * 5000 + b"}"
    with pytest.raises(StateFileError, match="larger than"):
        statefile.parse(data, Path("s"))
    with pytest.raises(StateFileError) as info:
        _parse_unbounded(data)
    assert str(info.value).startswith(
        "state file s: not a valid state (Exceeds the limit (4300 digits) for integer string conversion"
    )


@pytest.mark.parametrize(
    "field, value, shown",
    [
        ("count", "9" * 4000, "count " + "9" * 80 + "... (4000 characters) is not"),
        ("node_id", '"' + "x-" * 400 + '"', "node_id '" + "x-" * 39 + "x... (802 characters) is not"),
        ("format", "[" + "1," * 300 + "1]", "unknown format [" + "1, " * 26 + "1... (903 characters) (this pingd"),
    ],
)
def test_a_long_refused_value_is_cut_in_its_one_line(field: str, value: str, shown: str) -> None:
    fields = {"format": "1", "node_id": '"ab"', "count": "5", field: value}
    data = ("{" + ", ".join(f'"{k}": {v}' for k, v in fields.items()) + "}").encode()
    with pytest.raises(StateFileError) as info:
        statefile.parse(data, Path("s"))
    assert shown in str(info.value) and len(str(info.value)) < 300


def _parse_unbounded(data: bytes) -> State:
    """parse() past its size check, as a file within the limit but over Python's digit limit
    would reach it if the limit were ever raised."""
    import unittest.mock

    with unittest.mock.patch.object(statefile, "MAX_SIZE", 1 << 20):
        return statefile.parse(data, Path("s"))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_parse_or_are_refused_with_a_state_file_error(data: bytes) -> None:
    try:
        state = statefile.parse(data, Path("s"))
    except StateFileError:
        return
    assert 0 <= state.count < 2**64


KEEP = "pingd will not overwrite it: repair it or move it away"


def _state(**values: object) -> bytes:
    return json.dumps({"format": 1, "node_id": "ab", "count": 1} | values).encode()


@pytest.mark.parametrize(
    "data, problem",
    [
        (b"", "file is empty (truncated?)"),
        (b" \n\t", "file is empty (truncated?)"),
        (b"\xff\xfe\x00", "not UTF-8 text"),
        (
            b'{"format": 1, "node_id": "ab", "cou',
            "not valid JSON (Unterminated string starting at: line 1 column 32 (char 31))",
        ),
        (b"[" * 3000 + b"]" * 1000, DEEP),
        (b"[1, 2]", "not a JSON object"),
        (b'"ab"', "not a JSON object"),
        (_state(format=2), "unknown format 2 (this pingd reads format 1)"),
        (_state(format=True), "unknown format True (this pingd reads format 1)"),
        (_state(format=1.0), "unknown format 1.0 (this pingd reads format 1)"),
        (b'{"node_id": "ab", "count": 1}', "unknown format None (this pingd reads format 1)"),
        (_state(node_id="a b"), "node_id 'a b' is not 1-64 letters or digits"),
        (_state(node_id=""), "node_id '' is not 1-64 letters or digits"),
        (_state(node_id="\u00fcber"), "node_id '\u00fcber' is not 1-64 letters or digits"),  # a letter, not ASCII
        (_state(node_id="a" * 65), f"node_id '{'a' * 65}' is not 1-64 letters or digits"),
        (_state(node_id=5), "node_id 5 is not 1-64 letters or digits"),
        (b'{"format": 1, "count": 1}', "node_id None is not 1-64 letters or digits"),
        (_state(count=-1), "count -1 is not a whole number 0..2**64-1"),
        (_state(count=2**64), "count 18446744073709551616 is not a whole number 0..2**64-1"),
        (_state(count=1.5), "count 1.5 is not a whole number 0..2**64-1"),
        (_state(count=True), "count True is not a whole number 0..2**64-1"),
        (_state(count="7"), "count '7' is not a whole number 0..2**64-1"),
        (b'{"format": 1, "node_id": "ab"}', "count None is not a whole number 0..2**64-1"),
    ],
)
def test_an_unusable_state_is_refused_saying_what_is_wrong_and_what_to_do(data: bytes, problem: str) -> None:
    with pytest.raises(StateFileError) as info:
        statefile.parse(data, Path("/var/lib/pingd/state.json"))
    assert str(info.value) == f"state file /var/lib/pingd/state.json: {problem}; {KEEP}"
    assert info.value.path == Path("/var/lib/pingd/state.json")


@pytest.mark.parametrize(
    "data, state",
    [
        (_state(count=0), State("ab", 0)),
        (_state(count=2**64 - 1), State("ab", 2**64 - 1)),
        (_state(node_id="A" * 64), State("A" * 64, 1)),
        (_state(node_id="Z9"), State("Z9", 1)),
        (b'{"count": 41, "node_id": "feed", "format": 1, "note": "by hand"}', State("feed", 41)),
    ],
)
def test_every_valid_state_is_read_whatever_its_layout(data: bytes, state: State) -> None:
    assert statefile.parse(data, Path("s")) == state


def test_a_state_file_may_be_4096_bytes_and_not_one_more() -> None:
    data = _state(count=7)
    data += b" " * (statefile.MAX_SIZE - len(data))
    assert statefile.parse(data, Path("s")) == State("ab", 7)
    with pytest.raises(StateFileError) as info:
        statefile.parse(data + b" ", Path("s"))
    assert str(info.value) == f"state file s: larger than 4096 bytes, so not a pingd state file; {KEEP}"


def test_the_rendered_layout_is_the_documented_one() -> None:
    assert statefile.render("3f9c0a1b2c3d4e5f", 1234) == (
        b'{\n  "format": 1,\n  "node_id": "3f9c0a1b2c3d4e5f",\n  "count": 1234                \n}\n'
    )
    assert statefile.parse(statefile.render("3f9c0a1b2c3d4e5f", 1234), Path("s")) == State("3f9c0a1b2c3d4e5f", 1234)


@given(st.text("0123456789abcdef", min_size=1, max_size=64), st.integers(0, 2**64 - 1))
def test_a_count_written_at_its_offset_gives_the_file_with_that_count(node_id: str, count: int) -> None:
    """What recording a count relies on: COUNT_WIDTH bytes at ``count_offset`` are the whole
    count field, so overwriting them in place turns one valid file into the next."""
    before = statefile.render(node_id, 0)
    at = statefile.count_offset(node_id)
    field = str(count).ljust(statefile.COUNT_WIDTH).encode()
    assert before[at : at + statefile.COUNT_WIDTH] == b"0".ljust(statefile.COUNT_WIDTH)
    assert before[:at] + field + before[at + statefile.COUNT_WIDTH :] == statefile.render(node_id, count)


def test_a_new_node_id_is_16_hexadecimal_digits_and_differs_each_time() -> None:
    ids = {statefile.new_node_id() for _ in range(20)}
    assert len(ids) == 20
    for node_id in ids:
        assert len(node_id) == 16 and set(node_id) <= set("0123456789abcdef")
        assert statefile.parse(statefile.render(node_id, 0), Path("s")) == State(node_id, 0)


def test_a_state_file_error_names_the_file_and_adds_the_hint_when_there_is_one() -> None:
    assert str(StateFileError(Path("/x/state.json"), "in use")) == "state file /x/state.json: in use"
    error = StateFileError(Path("/x/state.json"), "in use", "stop it first")
    assert str(error) == "state file /x/state.json: in use; stop it first"
    assert error.path == Path("/x/state.json")
