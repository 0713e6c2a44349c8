"""What every ``models`` command shares: consoles, the one-red-line failure, the registry root.

Expected failures (missing file or column, unknown version, feature mismatch, broker down) print
one red line and exit with code 1, without a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from core.settings import get_settings, settings_problems
from models.errors import ModelsError
from models.retrain.source import Tick

out = Console()
err = Console(stderr=True)

ModelDir = Annotated[
    Path | None,
    typer.Option("--model-dir", help="Registry root (default: FRAUDSCORE_MODEL_DIR or var/models)"),
]


def fail(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


@contextmanager
def expected_errors() -> Iterator[None]:
    """Turn the package's expected failures into one red line and exit code 1."""
    try:
        yield
    except (ModelsError, OSError) as exc:
        fail(str(exc))
    except (ValidationError, SettingsError) as exc:  # settings from the environment
        problems = settings_problems(exc)
        if problems is None:
            raise
        fail("; ".join(problems))


def root_dir(model_dir: Path | None) -> Path:
    """``--model-dir``, else the setting."""
    return model_dir if model_dir is not None else get_settings().model_dir


def fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None or value != value else f"{value:.{digits}f}"


@contextmanager
def steps() -> Iterator[tuple[Tick, Callable[[str], None]]]:
    """A bar per stage (``tick(stage, done, total)``: a topic read back, a scoring pass) and a
    spinner naming the current step (``say``), on a terminal only: in a log, the result and the
    one red line of a failure are all that is printed."""
    if not err.is_terminal:
        yield (lambda _t, _d, _n: None), (lambda _m: None)
        return
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        step = bar.add_task("starting", total=None)
        reads: dict[str, TaskID] = {}

        def tick(stage: str, done: int, total: int) -> None:
            if stage not in reads:
                reads[stage] = bar.add_task(stage, total=total)
            bar.update(reads[stage], completed=done, total=total)

        yield tick, lambda message: bar.update(step, description=message)
