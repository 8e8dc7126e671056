"""Running a typer app so that every usage error is one line with its exit code."""

from __future__ import annotations

import typer

from pingd.shared import usage


def _app() -> typer.Typer:
    app = typer.Typer(add_completion=False, rich_markup_mode=None, pretty_exceptions_enable=False)

    @app.command()
    def run(count: int = 1) -> None:
        raise typer.Exit(count)

    return app


def test_a_command_returns_its_exit_code():
    assert usage.run(_app(), "prog", ["--count", "0"]) == 0
    assert usage.run(_app(), "prog", ["--count", "3"]) == 3


def test_a_usage_error_is_one_line_with_a_hint_and_exit_2(capsys):
    assert usage.run(_app(), "prog", ["--count", "many"]) == usage.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("prog: ") and "--help" in err
