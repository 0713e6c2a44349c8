"""``python -m benchmarks bench ...``: the same command as ``fraudscore bench``."""

from __future__ import annotations

import typer

from benchmarks.cli import app

root = typer.Typer(pretty_exceptions_enable=False)
root.add_typer(app)


@root.callback()
def _group() -> None:
    """Benchmarks of fraudscore."""


if __name__ == "__main__":
    root()
