import json
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pingd import store
from pingd.store import StateFileError, StateStore


def test_new_state_file_is_created_with_a_node_id(tmp_path):
    path = tmp_path / "sub" / "state.json"
    s = StateStore.open(path)
    try:
        assert s.loaded_count == 0
        assert len(s.node_id) == 16
        data = json.loads(path.read_text())
        assert data == {"format": 1, "node_id": s.node_id, "count": 0}
    finally:
        s.close()


@given(st.integers(0, 2**64 - 1))
def test_rendered_file_is_json_with_the_count(count):
    assert json.loads(store.render("abc", count)) == {"format": 1, "node_id": "abc", "count": count}


def test_record_rewrites_only_the_count_field(tmp_path):
    path = tmp_path / "state.json"
    s = StateStore.open(path)
    node = s.node_id
    for count in (1, 9, 10, 12345678901234567890, 7):
        s.record(count)
        assert path.read_bytes() == store.render(node, count)
        assert json.loads(path.read_text())["count"] == count
    s.close()
    again = StateStore.open(path)
    assert (again.node_id, again.loaded_count) == (node, 7)
    again.close()


def test_sync_tracks_what_reached_the_disk(tmp_path):
    s = StateStore.open(tmp_path / "state.json")
    s.record(3)
    assert s.needs_sync
    s.sync()
    assert not s.needs_sync and s.synced_count == 3
    s.close()


def test_hand_edited_file_is_accepted_and_rewritten_in_the_fixed_layout(tmp_path):
    path = tmp_path / "state.json"
    path.write_text('{"count": 41, "node_id": "feed", "format": 1}')
    s = StateStore.open(path)
    assert (s.node_id, s.loaded_count) == ("feed", 41)
    s.record(42)
    s.close()
    assert json.loads(path.read_text())["count"] == 42


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"", "empty"),
        (b'{"format": 1, "node_id": "ab", "cou', "not valid JSON"),
        (b"\xff\xfe\x00", "not UTF-8"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"format": 2, "node_id": "ab", "count": 1}', "unknown format 2"),
        (b'{"format": 1, "node_id": "a b", "count": 1}', "node_id"),
        (b'{"format": 1, "node_id": "ab", "count": -1}', "count -1"),
        (b'{"format": 1, "node_id": "ab", "count": 1.5}', "count 1.5"),
        (b'{"format": 1, "node_id": "ab", "count": true}', "count True"),
        (b'{"format": 1, "node_id": "ab"}', "count None"),
    ],
)
def test_unusable_state_file_is_refused_and_left_untouched(tmp_path, content, problem):
    path = tmp_path / "state.json"
    path.write_bytes(content)
    with pytest.raises(StateFileError) as info:
        StateStore.open(path)
    assert problem in str(info.value)
    assert str(path) in str(info.value)
    assert path.read_bytes() == content
    assert os.listdir(tmp_path) == ["state.json"]  # no temp file left behind either


def test_second_store_on_the_same_file_is_refused(tmp_path):
    path = tmp_path / "state.json"
    first = StateStore.open(path)
    with pytest.raises(StateFileError, match="in use by another pingd"):
        StateStore.open(path)
    first.close()
    StateStore.open(path).close()


def test_unwritable_directory_is_a_clear_error():
    """As a user who may not write there (nobody, when the suite runs as root)."""
    import shutil
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(dir="/tmp") as top:
        os.chmod(top, 0o755)
        ro = os.path.join(top, "ro")
        os.mkdir(ro, 0o555)
        # A copy of the module (stdlib only), so the check does not depend on who may read the checkout.
        shutil.copy(store.__file__, os.path.join(top, "store_copy.py"))
        os.chmod(os.path.join(top, "store_copy.py"), 0o644)
        code = (
            "import sys; from pathlib import Path; from store_copy import StateStore, StateFileError\n"
            "try: StateStore.open(Path(sys.argv[1]))\n"
            "except StateFileError as e: print(e); sys.exit(3)\n"
        )
        as_nobody = (lambda: (os.setgid(65534), os.setuid(65534))) if os.geteuid() == 0 else None
        proc = subprocess.run(
            [("/usr/bin/python3" if os.geteuid() == 0 else sys.executable), "-c", code, os.path.join(ro, "state.json")],
            capture_output=True, text=True, preexec_fn=as_nobody, cwd="/", timeout=30,
            env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": top},
        )
        assert proc.returncode == 3, proc.stderr
        assert "ermission denied" in proc.stdout
        assert os.listdir(ro) == []


def test_parent_that_is_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StateFileError, match="file is not a directory"):
        StateStore.open(tmp_path / "file" / "state.json")


def test_state_path_that_is_a_directory_is_a_clear_error(tmp_path):
    with pytest.raises(StateFileError, match="is a directory"):
        StateStore.open(tmp_path)
