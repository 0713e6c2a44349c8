"""``fraudscore train``, ``fraudscore retrain`` and ``fraudscore models list|promote|rollback|
gate|decisions``.

Mount on the main CLI either as a whole (``root.add_typer(models.cli.app)`` merges ``train``,
``retrain`` and the ``models`` group) or piece by piece (``root.command("train")(train_command)``,
``root.add_typer(models_app, name="models")``). Retraining and the gate live in
``models.retrain.cli``. Expected failures (missing file or column, unknown version, feature
mismatch) print one red line and exit with code 1, without a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from models import registry
from models.bundle import IMPORTANCE_PLOT, PR_PLOT, ModelBundle
from models.cli_common import ModelDir, expected_errors, fail, out
from models.cli_common import fmt as _fmt
from models.cli_common import root_dir as _root
from models.data import load_transactions
from models.protocol import Window, fold_starts
from models.retrain import cli as retrain_cli
from models.train import TrainResult, feature_matrix, train_model

__all__ = ["app", "expected_errors", "fail", "models_app"]

app = typer.Typer(
    help="Train fraud models and manage the served model.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(
    help="List, promote, gate and roll back model bundles; see the decisions log.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(models_app, name="models")
app.command("retrain", epilog=retrain_cli.RETRAIN_EPILOG)(retrain_cli.retrain_command)
models_app.command("gate", epilog=retrain_cli.GATE_EPILOG)(retrain_cli.gate_command)
models_app.command("decisions", epilog=retrain_cli.DECISIONS_EPILOG)(retrain_cli.decisions_command)

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


@models_app.command("list", epilog="Example: fraudscore models list --model-dir var/models")
def list_command(model_dir: ModelDir = None) -> None:
    """Show the bundles, their test metrics, which one is served and what the gate made of them."""
    with expected_errors():
        root = _root(model_dir)
        infos = registry.list_bundles(root)
    if not infos:
        out.print(f"no bundles under {root}; train one with `fraudscore train --data ...`")
        return
    table = Table(
        title=f"Model bundles in {escape(str(root))}",
        caption="* = current (served); version = UTC creation time + model hash; "
        "status from the decisions log",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    table.add_column("", min_width=1, no_wrap=True)
    for col in ("version", "window", "AP", "CP@100", "threshold", "status"):
        table.add_column(col, no_wrap=True)
    for b in infos:
        table.add_row(
            "[green]*[/green]" if b.current else "",
            b.version,
            b.window or "-",
            _fmt(b.average_precision),
            _fmt(b.card_precision_at_100),
            _fmt(b.threshold, 4),
            b.status,
        )
    out.print(table)


Reason = Annotated[str | None, typer.Option(help="Why, for the decisions log")]


@models_app.command(
    "promote", epilog="Example: fraudscore models promote 20180815T120000Z-ab12cd --reason 'hotfix'"
)
def promote_command(
    version: Annotated[str, typer.Argument(help="Bundle version")],
    model_dir: ModelDir = None,
    reason: Reason = None,
) -> None:
    """Serve VERSION (checked against the feature registry first), bypassing the gate; logged."""
    with expected_errors():
        bundle = registry.promote(_root(model_dir), version, reason=reason or "promoted by hand")
    out.print(f"[green]current model: {bundle.version}[/green] (workers follow within seconds)")


@models_app.command(
    "rollback", epilog="Example: fraudscore models rollback --reason 'alert volume doubled'"
)
def rollback_command(model_dir: ModelDir = None, reason: Reason = None) -> None:
    """Serve the previously served model again; logged in the decisions log."""
    with expected_errors():
        root = _root(model_dir)
        version = registry.rollback(root, reason=reason or "rolled back by hand")
    out.print(f"[green]current model: {version}[/green] (workers follow within seconds)")
