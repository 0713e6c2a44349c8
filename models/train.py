"""Train, evaluate and calibrate one LightGBM model on the benchmark protocol.

For a training start S (a fold of ``models.protocol``), ``train_model``:

1. computes the features with ``features.offline.compute_features`` over the whole dataset (the
   code the online path mirrors; windows need the history before each row);
2. trains an *early-stopping model* on the fold 14 days earlier (training start S - 14, same
   window rule) and stops on that fold's test week, the days [S, S + 7): a time-ordered block
   after its training data and before this fold's test week (which is never looked at);
3. chooses the alert thresholds on that block from the early-stopping model's scores
   (``models.thresholds``), with their expected precision, recall and cards/day;
4. retrains the final model on the fold's own window with the number of rounds found in 2;
5. scores the test week [S + 14, S + 21) without the known-compromised cards: AUC, AP, CP@100,
   and what the thresholds really flag there.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd

from features.offline import compute_features
from features.registry import FEATURE_NAMES
from models.data import check_columns
from models.errors import DataError
from models.metrics import average_precision, card_days, card_precision_at_k, roc_auc
from models.protocol import Split, Window, make_split, stopping_start
from models.thresholds import Thresholds, ThresholdStats, choose_thresholds, stats_at

FloatArray = npt.NDArray[np.float64]
Progress = Callable[[str], None]
LABEL = "TX_FRAUD"

# Chosen on the 4 validation folds only (models.tune), simulator default dataset: mean validation
# AP 0.684 (history window) / 0.653 (strict). Every one-at-a-time variant (leaves 15/63,
# min_child_samples 20/400, feature_fraction 0.5/1.0, lambda_l2 10) was within +-0.002 of it;
# learning_rate 0.1 and max_bin 63 lost 0.01-0.015. The surface is flat: more history and better
# features move AP, tuning does not.
DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_child_samples": 100,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
}
FIXED_PARAMS: dict[str, Any] = {
    "metric": "average_precision",
    "verbosity": -1,
    "deterministic": True,
    "force_col_wise": True,
}
SMALL_DATA_ROWS = 200_000  # below this, one thread: OpenMP overhead exceeds the work
MAX_ROUNDS = 2000
EARLY_STOPPING_ROUNDS = 50
REFERENCE_ROWS = 5000


@dataclass(frozen=True, slots=True)
class FoldMetrics:
    """Test-week quality of one fold, and what the review threshold flagged there."""

    train_start: date
    test_start: date
    n_train: int
    n_train_frauds: int
    n_test: int
    n_test_frauds: int
    auc: float
    average_precision: float
    card_precision_at_100: float
    cp100_per_day: tuple[float, ...]
    test_at_review: ThresholdStats
    test_at_block: ThresholdStats


@dataclass(frozen=True, slots=True)
class TrainResult:
    """A trained booster with its thresholds, test metrics and drift reference sample."""

    booster: lgb.Booster
    params: dict[str, Any]
    num_boost_round: int
    window: Window
    train_start: date
    thresholds: Thresholds
    metrics: FoldMetrics
    reference: pd.DataFrame  # feature columns + "score", from the last training week
    test_labels: npt.NDArray[np.int64]
    test_scores: FloatArray
    history_days: int | None = None  # the "history" window's limit (None: all history)


def feature_matrix(df: pd.DataFrame) -> FloatArray:
    """The model's features for every row of ``df`` (columns in FEATURE_NAMES order)."""
    check_columns(df)
    feats = compute_features(df)
    return feats[list(FEATURE_NAMES)].to_numpy(dtype=np.float64)


def threads(n_rows: int) -> int:
    """LightGBM threads for ``n_rows``: 1 on small data, else the cores (at most 4)."""
    return 1 if n_rows < SMALL_DATA_ROWS else max(1, min(os.cpu_count() or 1, 4))


def _params(params: dict[str, Any] | None, seed: int) -> dict[str, Any]:
    return {**DEFAULT_PARAMS, **(params or {}), **FIXED_PARAMS, "seed": seed}


def _dataset(x: FloatArray, y: npt.NDArray[np.int64]) -> lgb.Dataset:
    return lgb.Dataset(x, label=y, feature_name=list(FEATURE_NAMES), free_raw_data=True)


def _fit(
    x: FloatArray,
    y: npt.NDArray[np.int64],
    params: dict[str, Any],
    rounds: int,
    valid: tuple[FloatArray, npt.NDArray[np.int64]] | None = None,
) -> lgb.Booster:
    if y.sum() == 0:
        raise DataError("the training window has no fraud labels")
    params = {**params, "num_threads": params.get("num_threads") or threads(len(y))}
    if valid is None:
        return lgb.train(params, _dataset(x, y), num_boost_round=rounds)
    vset = lgb.Dataset(valid[0], label=valid[1], feature_name=list(FEATURE_NAMES))
    stop = lgb.early_stopping(EARLY_STOPPING_ROUNDS, first_metric_only=True, verbose=False)
    return lgb.train(
        params, _dataset(x, y), num_boost_round=rounds, valid_sets=[vset], callbacks=[stop]
    )


def predict(booster: lgb.Booster, x: FloatArray) -> FloatArray:
    return np.asarray(booster.predict(x, num_threads=threads(len(x))), np.float64)


def early_stopping_run(
    df: pd.DataFrame,
    x: FloatArray,
    train_start: date,
    window: Window,
    params: dict[str, Any],
    history_days: int | None,
) -> tuple[lgb.Booster, Split]:
    """Model of the fold 14 days earlier, stopped on its test week (= the days [S, S + 7))."""
    val = make_split(df, stopping_start(train_start), window, history_days=history_days)
    y = df[LABEL].to_numpy(dtype=np.int64)
    booster = _fit(x[val.train], y[val.train], params, MAX_ROUNDS, valid=(x[val.test], y[val.test]))
    return booster, val


def evaluate(
    df: pd.DataFrame, split: Split, scores: FloatArray, thresholds: Thresholds
) -> FoldMetrics:
    """Test-week metrics of ``scores`` (aligned with the test rows of ``split``)."""
    y = df[LABEL].to_numpy(dtype=np.int64)
    test = df.loc[split.test]
    cards = card_days(test, scores)
    cp = card_precision_at_k(test, scores, 100)
    return FoldMetrics(
        train_start=split.train_start,
        test_start=split.test_start,
        n_train=int(split.train.sum()),
        n_train_frauds=int(y[split.train].sum()),
        n_test=int(split.test.sum()),
        n_test_frauds=int(y[split.test].sum()),
        auc=roc_auc(y[split.test], scores),
        average_precision=average_precision(y[split.test], scores),
        card_precision_at_100=cp.mean,
        cp100_per_day=cp.per_day,
        test_at_review=stats_at(cards, thresholds.review.threshold),
        test_at_block=stats_at(cards, thresholds.block.threshold),
    )


def reference_sample(
    x: FloatArray,
    rows: npt.NDArray[np.bool_],
    scores: FloatArray,
    n: int = REFERENCE_ROWS,
    seed: int = 0,
) -> pd.DataFrame:
    """Up to ``n`` rows of ``x[rows]`` with their scores, in time order, for drift monitoring."""
    idx = np.flatnonzero(rows)
    if len(idx) > n:
        idx = np.sort(np.random.default_rng(seed).choice(idx, n, replace=False))
    ref = pd.DataFrame(x[idx], columns=list(FEATURE_NAMES))
    ref["score"] = scores[np.searchsorted(np.flatnonzero(rows), idx)]
    return ref


def train_model(
    df: pd.DataFrame,
    *,
    train_start: date,
    window: Window = "history",
    params: dict[str, Any] | None = None,
    budget_per_day: float = 100,
    target_precision: float | None = None,
    block_share: float = 0.1,
    history_days: int | None = None,
    features: FloatArray | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> TrainResult:
    """Train on one fold of the protocol (module docstring); ``features`` reuses a matrix."""
    say = progress or (lambda _msg: None)
    if features is None:
        say("computing features")
    x = feature_matrix(df) if features is None else features
    if x.shape != (len(df), len(FEATURE_NAMES)):
        raise ValueError(f"features must be ({len(df)}, {len(FEATURE_NAMES)}), got {x.shape}")
    full = _params(params, seed)
    say(f"fold {train_start}: early-stopping model (fold {stopping_start(train_start)})")
    stopper, val = early_stopping_run(df, x, train_start, window, full, history_days)
    rounds = max(int(stopper.best_iteration or stopper.current_iteration()), 1)
    val_scores = predict(stopper, x[val.test])
    thresholds = choose_thresholds(
        df.loc[val.test],
        val_scores,
        budget_per_day=budget_per_day,
        target_precision=target_precision,
        block_share=block_share,
    )
    say(f"fold {train_start}: final model, {rounds} rounds, {window} window")
    split = make_split(df, train_start, window, history_days=history_days)
    y = df[LABEL].to_numpy(dtype=np.int64)
    booster = _fit(x[split.train], y[split.train], full, rounds)
    test_scores = predict(booster, x[split.test])
    metrics = evaluate(df, split, test_scores, thresholds)
    last_week = make_split(df, train_start, "strict").train
    ref = reference_sample(x, last_week, predict(booster, x[last_week]), seed=seed)
    return TrainResult(
        booster,
        full,
        rounds,
        window,
        train_start,
        thresholds,
        metrics,
        ref,
        y[split.test],
        test_scores,
        history_days,
    )
