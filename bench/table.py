"""A row of the benchmark's table, and the ways a figure is written in it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Row:
    figure: str
    value: str
    baseline: str = ""
    ratio: str = ""
    goal: str = ""
    met: bool | None = None


def ms(us: float) -> str:
    return f"{us / 1000:.3f} ms"


def ratio_row(figure: str, value: float, base: float, goal: float | None, unit=ms) -> Row:
    r = value / base
    return Row(
        figure,
        unit(value),
        unit(base),
        f"{r:.2f}×",
        f"≤ {goal:g}×" if goal else "",
        None if goal is None else r <= goal,
    )
