"""Hyper-parameter choice on the validation folds only (never on a test week).

The validation folds (2018-07-11, 07-04, 06-27, 06-20 on the benchmark data; see
``protocol.validation_starts``) have test weeks that end before the first test week begins. Each
candidate runs the full ``train_model`` procedure on every validation fold (early stopping
included) and is ranked by mean average precision, then card precision@100. The search is
one-at-a-time around a base point: the doc's advice is that features and history matter more
than heavy tuning.

Reproduce ``train.DEFAULT_PARAMS``::

    python -m models.tune --data var/data/transactions.parquet --window history
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer

from models.data import load_transactions
from models.protocol import Window, check_covers, fold_starts, stopping_start, validation_starts
from models.train import DEFAULT_PARAMS, FloatArray, feature_matrix, train_model

CANDIDATES: tuple[dict[str, Any], ...] = (
    {},
    {"num_leaves": 15},
    {"num_leaves": 63},
    {"min_child_samples": 20},
    {"min_child_samples": 400},
    {"feature_fraction": 0.5},
    {"feature_fraction": 1.0},
    {"lambda_l2": 10.0},
    {"learning_rate": 0.1},
    {"max_bin": 63},
)


@dataclass(frozen=True, slots=True)
class Trial:
    """Mean validation-fold quality of one parameter set."""

    params: dict[str, Any]
    average_precision: float
    card_precision_at_100: float
    auc: float
    rounds: float


def run_trial(
    df: pd.DataFrame, x: FloatArray, params: dict[str, Any], window: Window, n_folds: int = 4
) -> Trial:
    """Run ``train_model`` with ``params`` on each validation fold; mean metrics."""
    starts = validation_starts(fold_starts(df, n_folds))
    check_covers(df, [stopping_start(s) for s in starts])
    runs = [
        train_model(df, train_start=s, window=window, params=params, features=x) for s in starts
    ]
    return Trial(
        params={**DEFAULT_PARAMS, **params},
        average_precision=float(np.mean([r.metrics.average_precision for r in runs])),
        card_precision_at_100=float(np.mean([r.metrics.card_precision_at_100 for r in runs])),
        auc=float(np.mean([r.metrics.auc for r in runs])),
        rounds=float(np.mean([r.num_boost_round for r in runs])),
    )


def tune(
    df: pd.DataFrame, window: Window, candidates: tuple[dict[str, Any], ...] = CANDIDATES
) -> list[Trial]:
    """All candidates, best first (AP, then CP@100)."""
    x = feature_matrix(df)
    trials = []
    for cand in candidates:
        trial = run_trial(df, x, cand, window)
        typer.echo(
            f"{cand or 'base'}: AP {trial.average_precision:.4f} "
            f"CP@100 {trial.card_precision_at_100:.4f} rounds {trial.rounds:.0f}"
        )
        trials.append(trial)
    return sorted(trials, key=lambda t: (-t.average_precision, -t.card_precision_at_100))


def main(
    data: Annotated[Path, typer.Option(help="Transactions (parquet/CSV)")],
    window: Annotated[str, typer.Option(help="strict | history")] = "history",
) -> None:
    """Rank the candidate parameter sets on the validation folds."""
    best = tune(load_transactions(data), "strict" if window == "strict" else "history")
    typer.echo(f"best: {best[0].params}")


if __name__ == "__main__":
    typer.run(main)
