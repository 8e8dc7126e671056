"""The Prometheus rules the package ships (packaging/prometheus/): promtool finds them valid,
and each alert's unit test passes (promtool test rules, packaging/prometheus/tests/)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require

RULES_DIR = Path(__file__).resolve().parents[2] / "packaging" / "prometheus"
RULES = RULES_DIR / "pingd.rules.yml"
UNIT_TESTS = sorted((RULES_DIR / "tests").glob("*.test.yml"))


def promtool(*args: str, cwd: Path = RULES_DIR) -> subprocess.CompletedProcess[str]:
    require(None if shutil.which("promtool") else "promtool is not installed (Debian: apt-get install prometheus)")
    return subprocess.run(["promtool", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_the_rules_are_valid_and_promtool_has_nothing_to_say() -> None:
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout and "WARNING" not in checked.stdout + checked.stderr


@pytest.mark.parametrize("unit", UNIT_TESTS, ids=lambda p: p.name)
def test_each_rule_file_test_passes(unit: Path) -> None:
    tested = promtool("test", "rules", str(unit))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_and_recording_rule_has_a_unit_test() -> None:
    text = RULES.read_text()
    alerts = set(re.findall(r"^\s*- alert: (\w+)$", text, re.M))
    records = set(re.findall(r"^\s*- record: (\S+)$", text, re.M))
    assert len(alerts) >= 11 and len(records) == 6
    tests = "".join(unit.read_text() for unit in UNIT_TESTS)
    assert alerts <= set(re.findall(r"alertname: (\w+)", tests))
    # Each alert is seen firing, not only not firing.
    for alert in alerts:
        assert re.search(rf"alertname: {alert}\n\s+exp_alerts:\n\s+- exp_labels", tests), alert
    assert records <= set(re.findall(r"expr: (?:abs\()?([\w:]+)", tests))


def test_a_wrong_expectation_fails_the_unit_test(tmp_path: Path) -> None:
    """The check can fail: a test that expects PingdDown to fire a minute early."""
    unit = (RULES_DIR / "tests" / "pingd.test.yml").read_text()
    wrong = unit.replace("../pingd.rules.yml", str(RULES)).replace(
        "- eval_time: 3m\n        alertname: PingdDown", "- eval_time: 2m\n        alertname: PingdDown", 1
    )
    assert wrong != unit
    (tmp_path / "wrong.test.yml").write_text(wrong)
    tested = promtool("test", "rules", str(tmp_path / "wrong.test.yml"), cwd=tmp_path)
    assert tested.returncode != 0 and "PingdDown" in tested.stdout + tested.stderr
