"""The grammar of the mesh's setting values (pingd.values): ``Seconds`` for ``mesh_interval`` and
``Whole`` for ``mesh_peers``, alone and through the real command line."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pytest

from pingd import cli, values
from pingd.settings import SETTINGS
from pingd.shared import usage

INTERVAL = values.Seconds(0.5, 3600.0)
PEERS = values.Whole(1, 64)


def test_the_mesh_settings_use_these_parsers_and_bounds() -> None:
    by_key = {s.key: s for s in SETTINGS}
    assert by_key["mesh_interval"].parse == INTERVAL and by_key["mesh_interval"].default == 10.0
    assert by_key["mesh_peers"].parse == PEERS and by_key["mesh_peers"].default == 64


@pytest.mark.parametrize(
    "given, seconds",
    [(0.5, 0.5), (3600, 3600.0), ("10", 10.0), (10, 10.0), ("0.5", 0.5), (" 2.5 ", 2.5), ("1e3", 1000.0)],
)
def test_seconds_takes_a_number_within_its_bounds(given: Any, seconds: float) -> None:
    parsed = INTERVAL(given)
    assert parsed == seconds and type(parsed) is float


@pytest.mark.parametrize(
    "given",
    [True, False, None, [10], "", "ten", "10s", "0x10", "1e5", "-1", -0.5, 0, 0.4999, 3600.001, "3601"],
)
def test_seconds_refuses_what_is_no_number_or_out_of_bounds(given: Any) -> None:
    with pytest.raises(ValueError):
        INTERVAL(given)


@pytest.mark.parametrize("given", [math.nan, math.inf, -math.inf, "nan", "inf", "-inf", "infinity", "9" * 400])
def test_seconds_refuses_what_is_not_finite_and_says_the_bounds(given: Any) -> None:
    with pytest.raises(ValueError, match="is not 0.5-3600 seconds$"):
        INTERVAL(given)


def test_seconds_says_what_is_wanted() -> None:
    with pytest.raises(ValueError) as info:
        INTERVAL(True)
    assert str(info.value) == "expected a number of seconds"
    with pytest.raises(ValueError) as info:
        INTERVAL("0.1")
    assert str(info.value) == "'0.1' is not 0.5-3600 seconds"


@pytest.mark.parametrize("given", ["１０", "٣", "1_0"], ids=["full-width", "arabic-indic", "underscore"])
def test_seconds_takes_ascii_numbers_only(given: str) -> None:
    with pytest.raises(ValueError):
        INTERVAL(given)


@pytest.mark.parametrize("given, whole", [(1, 1), (64, 64), ("64", 64), (" 7 ", 7), ("064", 64)])
def test_whole_takes_a_whole_number_within_its_bounds(given: Any, whole: int) -> None:
    parsed = PEERS(given)
    assert parsed == whole and type(parsed) is int


@pytest.mark.parametrize(
    "given",
    [True, False, None, 1.0, 10.5, math.nan, math.inf, "nan", "inf", "1e3", "1e1", "１０", "٣", "1_0", "+5", "-1",
     0, -1, 65, "65", "", "ten", [5]],
)  # fmt: skip
def test_whole_refuses_what_is_no_ascii_whole_number_or_out_of_bounds(given: Any) -> None:
    with pytest.raises(ValueError, match="whole number"):
        PEERS(given)


def test_whole_says_the_bounds_however_long_the_number() -> None:
    with pytest.raises(ValueError, match="is not a whole number 1-64$"):
        PEERS("9" * 5000)


def test_whole_says_the_bounds() -> None:
    with pytest.raises(ValueError) as info:
        PEERS("65")
    assert str(info.value) == "65 is not a whole number 1-64"


# --- through the command line ----------------------------------------------------------------------


@pytest.fixture
def pingd(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    """`pingd ARGS` with an empty settings file and no PINGD_* variables: (exit code, stdout,
    stderr). Settings that pass would be served: serving is replaced by a record of it."""
    for name in list(os.environ):
        if name.startswith("PINGD_"):
            monkeypatch.delenv(name)
    served: list[Any] = []

    def serve(settings: Any, state: Path, reload: Any) -> int:
        served.append(settings)
        return 0

    monkeypatch.setattr(cli, "_serve", serve)
    conf = tmp_path / "pingd.toml"
    conf.write_text("")

    def run(*args: str) -> tuple[int, str, str, list[Any]]:
        code = usage.run(cli.app, "pingd", [*args, "--config", str(conf)])
        out = capsys.readouterr()
        return code, out.out, out.err, served

    return run


def test_a_mesh_interval_below_half_a_second_is_refused_in_one_line(pingd: Any) -> None:
    code, out, err, served = pingd("--mesh-interval", "0.1")
    assert (code, out, served) == (2, "", [])
    assert err == "pingd: --mesh-interval 0.1: '0.1' is not 0.5-3600 seconds\n"


def test_mesh_peers_above_the_cap_is_refused_in_one_line(pingd: Any) -> None:
    code, out, err, served = pingd("--mesh-peers", "65")
    assert (code, out, served) == (2, "", [])
    assert err == "pingd: --mesh-peers 65: 65 is not a whole number 1-64\n"


def test_good_mesh_flags_reach_the_settings(pingd: Any) -> None:
    """The refusals above can fail: the same flags with good values are served."""
    code, _, err, served = pingd("--mesh", "--mesh-interval", "0.5", "--mesh-peers", "1")
    assert code == 0, err
    assert [(s.mesh, s.mesh_interval, s.mesh_peers) for s in served] == [(True, 0.5, 1)]
