"""The state file's format: its bytes, and which bytes are a valid state (no files touched)."""

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pingd.serve import statefile
from pingd.serve.statefile import State, StateFileError


@given(st.integers(0, 2**64 - 1))
def test_rendered_file_is_json_with_the_count(count: int) -> None:
    assert json.loads(statefile.render("abc", count)) == {"format": 1, "node_id": "abc", "count": count}


def test_numbers_too_long_to_convert_are_refused_not_raised() -> None:
    data = b'{"format": 1, "node_id": "ab", "count": ' + b"9" * 5000 + b"}"
    with pytest.raises(StateFileError, match="larger than"):
        statefile.parse(data, Path("s"))
    with pytest.raises(StateFileError, match="not a valid state"):
        _parse_unbounded(data)


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
