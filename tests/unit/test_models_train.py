"""Training on the protocol, and threshold choice on card-days."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from features.registry import FEATURE_NAMES
from models.errors import DataError
from models.metrics import day_numbers
from models.protocol import fold_starts, make_split
from models.synthetic import synthetic_transactions
from models.thresholds import (
    choose_thresholds,
    stats_at,
    threshold_for_precision,
    threshold_for_volume,
)
from models.train import TrainResult, early_stopping_run, feature_matrix, train_model

FAST = {"learning_rate": 0.2}


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return synthetic_transactions()


@pytest.fixture(scope="module")
def result(data: pd.DataFrame) -> TrainResult:
    return train_model(data, train_start=fold_starts(data, 1)[0], window="strict", params=FAST)


def cards(scores: list[float], labels: list[int], days: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"day": days, "card": range(len(scores)), "score": scores, "label": labels})


def test_threshold_for_volume_flags_budget_per_day() -> None:
    c = cards([0.9, 0.8, 0.7, 0.6, 0.5, 0.4], [1, 0, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1])
    t = threshold_for_volume(c, 2)  # 2 cards/day over 2 days: the 4th best score
    assert t == 0.6
    s = stats_at(c, t)
    assert (s.cards_per_day, s.precision, s.recall) == (2.0, 0.5, 1.0)


def test_threshold_for_precision_is_lowest_reaching_target() -> None:
    c = cards([0.9, 0.8, 0.7, 0.6], [1, 0, 1, 0], [0, 0, 0, 0])
    assert threshold_for_precision(c, 0.66) == 0.7  # 2/3 at 0.7, 2/4 at 0.6
    with pytest.raises(DataError, match="no threshold reaches precision"):
        threshold_for_precision(cards([0.9], [0], [0]), 0.5)


def test_block_tier_is_stricter_than_review() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "TX_DATETIME": pd.Timestamp("2018-08-01")
            + pd.to_timedelta(rng.integers(0, 7, 3000), unit="D"),
            "CUSTOMER_ID": rng.integers(0, 1000, 3000),
            "TX_FRAUD": rng.integers(0, 2, 3000),
        }
    )
    t = choose_thresholds(frame, rng.random(3000), budget_per_day=50, block_share=0.1)
    assert t.block.threshold > t.review.threshold
    assert t.review.cards_per_day == pytest.approx(50, abs=1)
    assert t.block.cards_per_day == pytest.approx(5, abs=1)


def test_feature_matrix_is_the_offline_features(data: pd.DataFrame) -> None:
    x = feature_matrix(data)
    assert x.shape == (len(data), len(FEATURE_NAMES)) and x.dtype == np.float64


def test_missing_label_column_is_a_clear_error(data: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="TX_FRAUD"):
        feature_matrix(data.drop(columns="TX_FRAUD"))


def test_early_stopping_never_sees_the_test_week(data: pd.DataFrame) -> None:
    start = fold_starts(data, 1)[0]
    x = feature_matrix(data)
    _, val = early_stopping_run(
        data, x, start, "strict", {"objective": "binary", "verbosity": -1}, None
    )
    split = make_split(data, start, "strict")
    days = day_numbers(data["TX_DATETIME"])
    assert days[val.test].max() < days[split.test].min()
    assert days[val.train].max() < days[val.test].min()


def test_train_result_shape(result: TrainResult) -> None:
    m = result.metrics
    assert 0 <= m.average_precision <= 1 and 0 <= m.auc <= 1
    assert 0 <= m.card_precision_at_100 <= 1 and len(m.cp100_per_day) == 7
    assert m.test_start == m.train_start + timedelta(days=14)
    assert result.booster.feature_name() == list(FEATURE_NAMES)
    assert list(result.reference.columns) == [*FEATURE_NAMES, "score"]
    assert result.test_scores.shape == result.test_labels.shape == (m.n_test,)
    assert result.thresholds.review.cards_per_day == pytest.approx(100, rel=0.1)
    assert result.num_boost_round >= 1


def test_history_window_uses_more_rows(data: pd.DataFrame) -> None:
    start = fold_starts(data, 1)[0]
    longer = synthetic_transactions(n_days=90)
    strict = make_split(longer, start + timedelta(days=20), "strict")
    history = make_split(longer, start + timedelta(days=20), "history")
    assert history.train.sum() > strict.train.sum()
    assert (history.train | ~strict.train).all()  # the block is inside the history
