"""``fraudscore train`` and ``fraudscore models list|promote|rollback``.

Mount on the main CLI either as a whole (``root.add_typer(models.cli.app)`` merges ``train`` and
the ``models`` group) or piece by piece (``root.command("train")(train_command)``,
``root.add_typer(models_app, name="models")``). Expected failures (missing file or column, unknown
version, feature mismatch) print one red line and exit with code 1, without a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from models import registry
from models.bundle import IMPORTANCE_PLOT, PR_PLOT, ModelBundle
from models.data import load_transactions
from models.errors import ModelsError
from models.protocol import Window, fold_starts
from models.train import TrainResult, feature_matrix, train_model
from worker.settings import get_settings

app = typer.Typer(
    help="Train fraud models and manage the served model.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(
    help="List, promote and roll back model bundles.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(models_app, name="models")

out = Console()
err = Console(stderr=True)

# docs/benchmark-data.md: (label, AUC, AP, CP@100)
PUBLISHED_4_FOLD = (
    ("book best (XGBoost)", "0.869-72", 0.687, 0.303),
    ("book random forest", "0.870", 0.678, 0.299),
    ("book logistic reg.", "0.868", 0.623, 0.297),
)
PUBLISHED_SINGLE = (
    ("book random forest", "0.867", 0.658, 0.287),
    ("book XGBoost", "0.862", 0.639, 0.273),
    ("book logistic reg.", "0.871", 0.606, 0.291),
)


class WindowChoice(StrEnum):
    STRICT = "strict"
    HISTORY = "history"


def _window(choice: WindowChoice) -> Window:
    return "strict" if choice is WindowChoice.STRICT else "history"


ModelDir = Annotated[
    Path | None,
    typer.Option("--model-dir", help="Registry root (default: FRAUDSCORE_MODEL_DIR or var/models)"),
]


@contextmanager
def expected_errors() -> Iterator[None]:
    """Turn the package's expected failures into one red line and exit code 1."""
    try:
        yield
    except (ModelsError, OSError) as exc:
        fail(str(exc))
    except ValidationError as exc:  # settings from the environment
        fail(f"invalid settings: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}")


def fail(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def _root(model_dir: Path | None) -> Path:
    return model_dir if model_dir is not None else get_settings().model_dir


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def metrics_table(results: list[TrainResult]) -> Table:
    """Per-fold and mean test metrics, next to the published baselines (fits 80 columns)."""
    table = Table(
        title=f"Test-week metrics, {results[0].window} training window",
        caption="fold = training start (test week 14 days later); cards/day and precision: "
        "what the review threshold flagged in the test week",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("model / fold", overflow="fold")
    for col in ("AUC", "AP", "CP@100", "cards/day", "precision"):
        table.add_column(col, justify="right", no_wrap=True, min_width=len(col))
    for r in results:
        m = r.metrics
        table.add_row(
            f"fold {m.train_start}",
            _fmt(m.auc),
            _fmt(m.average_precision),
            _fmt(m.card_precision_at_100),
            f"{m.test_at_review.cards_per_day:.0f}",
            _fmt(m.test_at_review.precision),
        )
    n = len(results)
    table.add_row(
        "[bold]LightGBM, mean[/bold]",
        _fmt(sum(r.metrics.auc for r in results) / n),
        f"[bold]{sum(r.metrics.average_precision for r in results) / n:.3f}[/bold]",
        f"[bold]{sum(r.metrics.card_precision_at_100 for r in results) / n:.3f}[/bold]",
        end_section=True,
    )
    for label, auc, ap, cp in PUBLISHED_4_FOLD if n > 1 else PUBLISHED_SINGLE:
        table.add_row(
            f"[dim]{label}[/dim]",
            f"[dim]{auc}[/dim]",
            f"[dim]{ap:.3f}[/dim]",
            f"[dim]{cp:.3f}[/dim]",
        )
    return table


def _report(bundle: ModelBundle, root: Path, results: list[TrainResult]) -> None:
    out.print(metrics_table(results))
    t = results[0].thresholds
    out.print(f"thresholds of the saved model (fold {results[0].train_start}), {t.rule}:")
    for tier, s in (("review", t.review), ("block", t.block)):
        out.print(
            f"  {tier:<6} {s.threshold:.4f}: ~{s.cards_per_day:.0f} cards/day, expected "
            f"precision {s.precision:.2f}, recall {s.recall:.2f} (cards)"
        )
    current = registry.current_version(root)
    state = "[green]current[/green]" if current == bundle.version else f"current is {current}"
    out.print(f"bundle {bundle.version} ({state}): {bundle.path}", soft_wrap=True)
    out.print(f"plots: {bundle.path / PR_PLOT} {bundle.path / IMPORTANCE_PLOT}", soft_wrap=True)


def _train_all(
    data: Path,
    window: Window,
    folds: int,
    budget: float,
    target_precision: float | None,
    history_days: int | None,
    say: Callable[[str], None],
) -> list[TrainResult]:
    say(f"reading {data}")
    df = load_transactions(data)
    starts = fold_starts(df, folds)
    say(f"computing features for {len(df):,} transactions")
    x = feature_matrix(df)
    return [
        train_model(
            df,
            train_start=s,
            window=window,
            features=x,
            budget_per_day=budget,
            target_precision=target_precision,
            history_days=history_days,
            progress=say,
        )
        for s in starts
    ]


@app.command("train")
def train_command(
    data: Annotated[Path, typer.Option(help="Transactions, parquet or CSV, published columns")],
    model_dir: ModelDir = None,
    window: Annotated[
        WindowChoice,
        typer.Option(help="strict: the 7-day block; history: all labelled history before the gap"),
    ] = WindowChoice.HISTORY,
    budget: Annotated[float, typer.Option(help="Review alerts: cards per day")] = 100,
    target_precision: Annotated[
        float | None,
        typer.Option(help="Choose the review threshold by precision instead of the budget"),
    ] = None,
    folds: Annotated[int, typer.Option(help="1 (single split) or 4 (prequential folds)")] = 4,
    history_days: Annotated[
        int | None,
        typer.Option(min=7, help="With --window history: at most this many days (default: all)"),
    ] = None,
    promote: Annotated[
        bool | None,
        typer.Option(
            "--promote/--no-promote",
            help="Serve the new model (default: only if no model is current yet)",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Train LightGBM on the benchmark protocol, save a bundle, compare with the book.

    Example: fraudscore train --data var/data/transactions.parquet --window history --folds 4
    """
    if folds not in (1, 4):
        fail(f"--folds must be 1 or 4, not {folds}")
    with expected_errors():
        root = _root(model_dir)
        with out.status("training") as status:
            results = _train_all(
                data, _window(window), folds, budget, target_precision, history_days, status.update
            )
            status.update("writing the bundle")
            bundle = registry.add_bundle(root, results[0], results, promote_it=promote)
        _report(bundle, root, results)


@models_app.command("list")
def list_command(model_dir: ModelDir = None) -> None:
    """Show the bundles, their test metrics and which one is served.

    Example: fraudscore models list --model-dir var/models
    """
    with expected_errors():
        root = _root(model_dir)
        infos = registry.list_bundles(root)
    if not infos:
        out.print(f"no bundles under {root}; train one with `fraudscore train --data ...`")
        return
    table = Table(
        title=f"Model bundles in {escape(str(root))}",
        caption="* = current (served)",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    table.add_column("", min_width=1, no_wrap=True)
    for col in ("version", "created (UTC)", "window", "AP", "CP@100", "threshold"):
        table.add_column(col, no_wrap=True)
    for b in infos:
        created = b.created_at[:16].replace("T", " ")
        table.add_row(
            "[green]*[/green]" if b.current else "",
            b.version,
            created,
            b.window or "-",
            _fmt(b.average_precision),
            _fmt(b.card_precision_at_100),
            _fmt(b.threshold, 4),
        )
    out.print(table)


@models_app.command("promote")
def promote_command(
    version: Annotated[str, typer.Argument(help="Bundle version")], model_dir: ModelDir = None
) -> None:
    """Serve VERSION (checked against the feature registry first).

    Example: fraudscore models promote 20180815-120000-ab12cd
    """
    with expected_errors():
        bundle = registry.promote(_root(model_dir), version)
    out.print(f"[green]current model: {bundle.version}[/green]")


@models_app.command("rollback")
def rollback_command(model_dir: ModelDir = None) -> None:
    """Serve the previously served model again.

    Example: fraudscore models rollback --model-dir var/models
    """
    with expected_errors():
        version = registry.rollback(_root(model_dir))
    out.print(f"[green]current model: {version}[/green]")
