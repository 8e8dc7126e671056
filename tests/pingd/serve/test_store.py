import json
import os
import sys
import threading

import pytest

from pingd.serve import histogram, statefile, store
from pingd.serve.store import StateFileError, StateStore
from pingd.shared import cut, files


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
    assert not s.needs_sync
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
    assert sorted(os.listdir(tmp_path)) == ["state.json", "state.json.lock"]  # no temp file left behind


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
        # A copy of the modules (stdlib only), so the check does not depend on who may read the checkout.
        for module in (store, statefile, histogram, files, cut):
            name = module.__name__.split(".")  # pingd.serve.store, pingd.shared.files, ...
            folder = top
            for part in name[:-1]:
                folder = os.path.join(folder, part)
                os.makedirs(folder, 0o755, exist_ok=True)
                init = os.path.join(folder, "__init__.py")
                if not os.path.exists(init):
                    open(init, "w").close()
                    os.chmod(init, 0o644)
            copy = os.path.join(folder, os.path.basename(module.__file__))
            shutil.copy(module.__file__, copy)
            os.chmod(copy, 0o644)
        code = (
            "import sys; from pathlib import Path; from pingd.serve.store import StateStore, StateFileError\n"
            "try: StateStore.open(Path(sys.argv[1]))\n"
            "except StateFileError as e: print(e); sys.exit(3)\n"
        )
        as_nobody = (lambda: (os.setgid(65534), os.setuid(65534))) if os.geteuid() == 0 else None
        proc = subprocess.run(
            [("/usr/bin/python3" if os.geteuid() == 0 else sys.executable), "-c", code, os.path.join(ro, "state.json")],
            capture_output=True,
            text=True,
            preexec_fn=as_nobody,
            cwd="/",
            timeout=30,
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


# --- hostile and racing state files ------------------------------------------------------------


@pytest.mark.parametrize(
    "content, problem",
    [
        ('{"format": 1, "node_id": "ab", "count": ' + "9" * 5000 + "}", "larger than"),
        ("[" * 30000 + "]" * 30000, "larger than"),
        ("[" * 3000 + "]" * 1000, "nested too deeply" if sys.version_info < (3, 13) else "not valid JSON"),
        ('{"format": true, "node_id": "ab", "count": 1}', "unknown format"),
        ('{"format": 1.0, "node_id": "ab", "count": 1}', "unknown format"),
        ('{"format": 1, "node_id": "ab", "count": 1}' + " " * 70000 + "garbage", "larger than"),
    ],
)
def test_hostile_state_files_are_refused_in_one_line_and_left_untouched(tmp_path, content, problem):
    path = tmp_path / "state.json"
    path.write_text(content)
    with pytest.raises(StateFileError, match=problem) as info:
        StateStore.open(path)
    assert "\n" not in str(info.value) and len(str(info.value)) < 400
    assert path.read_text() == content


def test_a_state_path_that_is_a_fifo_is_refused_at_once_and_left_alone(tmp_path):
    import os
    import stat

    path = tmp_path / "state.json"
    os.mkfifo(path)
    with pytest.raises(StateFileError, match="is a FIFO, not a regular file"):
        StateStore.open(path)
    assert stat.S_ISFIFO(path.lstat().st_mode)


def test_two_daemons_creating_one_new_state_file_cannot_both_win(tmp_path, monkeypatch):
    """The first is held between creating the file and publishing it; the second must be
    refused rather than create (or read) a file of its own."""
    path = tmp_path / "new" / "state.json"
    held, release = threading.Event(), threading.Event()
    real = files.write_atomically

    def slow(target, data, mode=0o644):
        held.set()
        release.wait(10)
        real(target, data, mode)

    monkeypatch.setattr(files, "write_atomically", slow)
    first: list = []
    thread = threading.Thread(target=lambda: first.append(StateStore.open(path)))
    thread.start()
    try:
        assert held.wait(10)
        with pytest.raises(StateFileError, match="in use by another pingd"):
            StateStore.open(path)
    finally:
        release.set()
        thread.join(10)
    [winner] = first
    winner.record(5)
    winner.close()
    assert store.parse(path.read_bytes(), path).count == 5


def test_rewriting_a_hand_edited_file_keeps_the_lock(tmp_path):
    path = tmp_path / "state.json"
    path.write_text('{"format": 1, "node_id": "abc", "count": 7}')
    s = StateStore.open(path)
    try:
        with pytest.raises(StateFileError, match="in use"):
            StateStore.open(path)
    finally:
        s.close()


@pytest.mark.parametrize(
    "target_content", ['{"format": 1, "node_id": "abc", "count": 7}', None], ids=["hand-edited target", "dangling link"]
)
def test_a_state_file_that_is_a_link_is_followed_and_the_link_kept(tmp_path, target_content):
    target = tmp_path / "disk" / "real.json"
    target.parent.mkdir()
    if target_content is not None:
        target.write_text(target_content)  # not in pingd's layout: rewritten at start
    link = tmp_path / "state.json"
    link.symlink_to(target)
    s = StateStore.open(link)
    s.record(9)
    s.close()
    assert link.is_symlink() and store.parse(target.read_bytes(), target).count == 9


def _links(tmp_path):
    """Every entry under tmp_path that is a link, and where it points."""
    return {str(p.relative_to(tmp_path)): os.readlink(p) for p in tmp_path.rglob("*") if p.is_symlink()}


@pytest.mark.parametrize("loop", ["itself", "two links", "a link beyond a link", "a directory on its path"])
def test_a_loop_of_links_is_refused_in_one_line_and_left_a_loop(tmp_path, loop):
    """Resolved leniently, a loop is the path itself: a new state file used to replace the link."""
    links = {
        "itself": {"state.json": "state.json"},
        "two links": {"state.json": "other", "other": "state.json"},
        "a link beyond a link": {"state.json": "hop", "hop": "loop/state.json", "loop": "loop"},
        "a directory on its path": {"loop": "loop"},
    }[loop]
    for name, target in links.items():
        (tmp_path / name).symlink_to(target)
    path = tmp_path / ("loop/state.json" if loop == "a directory on its path" else "state.json")
    with pytest.raises(StateFileError, match="loop of symbolic links") as info:
        StateStore.open(path)
    assert str(info.value).startswith(f"state file {path}: ") and "\n" not in str(info.value)
    assert _links(tmp_path) == links  # every link still a link, and nothing made beside them
    assert sorted(os.listdir(tmp_path)) == sorted(links)


def test_asked_not_to_create_a_missing_state_file_makes_nothing(tmp_path):
    path = tmp_path / "sub" / "state.json"
    with pytest.raises(StateFileError, match="does not exist"):
        StateStore.open(path, create=False)
    assert os.listdir(tmp_path) == []  # no directory, no lock file
    dangling = tmp_path / "state.json"
    dangling.symlink_to(tmp_path / "missing.json")
    with pytest.raises(StateFileError, match="does not exist"):
        StateStore.open(dangling, create=False)
    assert os.listdir(tmp_path) == ["state.json"] and dangling.is_symlink()


def test_asked_not_to_create_an_existing_state_file_is_opened(tmp_path):
    path = tmp_path / "state.json"
    path.write_bytes(statefile.render("feed", 5))
    s = StateStore.open(path, create=False)
    assert (s.node_id, s.loaded_count) == ("feed", 5)
    s.close()
