"""docs/performance.md shows the table `make bench` writes, between its markers, and nothing of
an earlier run: the bench replaces the block whole, and refuses a document without it."""

from __future__ import annotations

import re

import pytest

from bench.__main__ import BEGIN, DOCUMENT, END, Row, publish, render

HEADER = "| figure | value | baseline | ratio | goal | met |"


def test_the_document_holds_one_bench_table_between_the_markers():
    text = DOCUMENT.read_text(encoding="utf-8")
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    block = text.split(BEGIN)[1].split(END)[0]
    assert re.match(r"\nMachine: .+; \d{4}-\d{2}-\d{2}\n\n", block), "the run's machine and date come first"
    assert HEADER in block and block.count("\n| ") > 20
    outside = text.replace(block, "")
    assert HEADER not in outside and "Machine:" not in outside, "a table outside the markers is a stale run"


def test_publish_replaces_the_block_and_nothing_else():
    table = render([Row("a figure", "1.0 ms", goal="≤ 2 ms", met=True)], "a machine")
    document = f"# Title\n\nbefore\n\n{BEGIN}\nan older run\n{END}\n\nafter\n"
    published = publish(document, table)
    assert published == f"# Title\n\nbefore\n\n{BEGIN}\n{table}\n{END}\n\nafter\n"
    assert publish(published, table) == published
    assert "an older run" not in published and "| a figure | 1.0 ms |  |  | ≤ 2 ms | yes |" in published


def test_publish_refuses_a_document_without_the_markers():
    with pytest.raises(ValueError, match="bench:begin"):
        publish("# Performance\n\nno table here\n", "| t |")
    with pytest.raises(ValueError):
        publish(f"{BEGIN}\nnever ended\n", "| t |")
