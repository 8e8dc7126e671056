"""docs/operating.md, checked without a box: its walked blocks parse and are the ones the package
test walks, the walk's comparison can fail, and its BIND configuration and zone file are what
named accepts (named-checkconf, named-checkzone)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require
from tests.systemd import walk
from tests.systemd.test_package import WALKED

DOCUMENT = walk.DOCUMENT.read_text(encoding="utf-8")
_BIND = re.compile(r"^<!-- bind: ([\w.-]+) -->\n```\n(.*?)^```$", re.M | re.S)


def test_the_walked_blocks_are_the_ones_the_package_test_walks():
    blocks = walk.blocks()
    assert list(blocks) == WALKED
    commands = [step.command for steps in blocks.values() for step in steps]
    assert "sudo systemctl reload pingd        # exits 1" in commands
    assert any(step.answers == ["y"] for step in blocks["purge"])
    heredoc = next(c for c in commands if "<<'EOF'" in c)
    assert heredoc.endswith("Environment=PINGD_DNS_KEY=%d/dns.key\nEOF")


def test_a_block_parses_into_commands_their_output_and_status():
    text = (
        "<!-- walk: demo -->\n```console\n$ first \\\n  --flag        # exits 3: why\nout 1\n$ cat <<'EOF'\n"
        "a\nEOF\na\n$ apt remove x\nDo you want to continue? [Y/n] y\n```\n"
    )
    [(name, steps)] = walk.blocks(text).items()
    assert name == "demo" and [s.status for s in steps] == [3, 0, 0]
    assert steps[0] == walk.Step("first \\\n  --flag        # exits 3: why", ("out 1",), 3)
    assert steps[1].command == "cat <<'EOF'\na\nEOF" and steps[1].shown == ("a",)
    assert steps[2].answers == ["y"]
    script = walk.script(steps, "/var/tmp")
    assert "} 2>&1 <<< y\n" in script and script.startswith('sudo() { "$@"; }\ncd /var/tmp\n')


def test_the_comparison_fails_on_a_line_missing_out_of_order_or_different():
    output = ["PING box (node a2e2e7490a26cb05) at tcp://127.0.0.1:7464", "pong seq=1 time=0.3 ms", "done"]
    assert walk.unmatched(("PING box (node 0123456789abcdef) at …", "…", "done"), output) is None
    assert walk.unmatched(("pong   seq=1 time=… ms",), output) is None  # runs of spaces, any time
    assert walk.unmatched(("done", "pong seq=1 time=… ms"), output) == "pong seq=1 time=… ms"  # the order
    assert walk.unmatched(("pong seq=2 time=… ms",), output) == "pong seq=2 time=… ms"
    assert walk.unmatched(("PING box",), output) == "PING box"  # a whole line, not a part of one
    ran = walk.Ran(walk.Step("x", ("done",), 1), output, 0)
    assert ran.problems() == ["exit status 0, the document says 1"]


def test_results_are_split_by_step_and_a_block_that_stopped_is_named():
    steps = [walk.Step("a", (), 0), walk.Step("b", (), 0)]
    ran = walk.results(steps, "@@walk@@0\none\ntwo\n@@walk@@0 0\n@@walk@@1\n\n@@walk@@1 4\n")
    assert [(r.output, r.status) for r in ran] == [(["one", "two"], 0), ([""], 4)]
    with pytest.raises(AssertionError, match="stopped at 'b'"):
        walk.results(steps, "@@walk@@0\n\n@@walk@@0 0\n@@walk@@1\npartial")


def _bind_blocks() -> dict[str, str]:
    return dict(_BIND.findall(DOCUMENT))


def test_the_bind_configuration_and_zone_are_what_named_accepts(tmp_path: Path):
    """The document's named.conf.local (with a key made by tsig-keygen, as it says) and zone
    file, at paths of this test's own: named-checkconf loads the zone through the configuration."""
    for tool in ("named-checkconf", "named-checkzone", "tsig-keygen"):
        require(None if shutil.which(tool) else f"needs {tool} (Debian packages bind9, bind9-utils)")
    blocks = _bind_blocks()
    assert set(blocks) == {"named.conf.local", "db.example.org"}
    key, zone, conf = tmp_path / "pingd.key", tmp_path / "db.example.org", tmp_path / "named.conf.local"
    key.write_text(subprocess.run(["tsig-keygen", "-a", "hmac-sha256", "pingd-key"], capture_output=True,
                                  text=True, check=True).stdout)  # fmt: skip
    zone.write_text(blocks["db.example.org"])
    conf.write_text(
        blocks["named.conf.local"]
        .replace('"/etc/bind/pingd.key"', f'"{key}"')
        .replace('"/var/lib/bind/db.example.org"', f'"{zone}"')
    )
    assert str(key) in conf.read_text() and str(zone) in conf.read_text()
    checked = subprocess.run(["named-checkconf", "-z", str(conf)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "zone example.org/IN: loaded serial 1" in checked.stdout
    loaded = subprocess.run(["named-checkzone", "example.org", str(zone)], capture_output=True, text=True, timeout=60)
    assert loaded.returncode == 0 and loaded.stdout.rstrip().endswith("OK"), loaded.stdout + loaded.stderr
    browse = [line.split() for line in blocks["db.example.org"].splitlines() if "_dns-sd._udp" in line]
    assert sorted(b[0] for b in browse) == ["b._dns-sd._udp", "lb._dns-sd._udp"]
    assert all(b[1:] == ["IN", "PTR", "example.org."] for b in browse)


def test_the_key_is_made_readable_by_named_alone():
    """tsig-keygen writes to its output; a file made by `>` is world-readable (umask 022)."""
    [command] = [line for line in DOCUMENT.splitlines() if line.startswith("tsig-keygen")]
    assert "| sudo install -m 0640 -o root -g bind /dev/stdin /etc/bind/pingd.key" in command
    assert "sudo install -m 0600 -o root -g root dns.key /etc/pingd/dns.key" in DOCUMENT  # pingd's host
