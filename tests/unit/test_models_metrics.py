"""Metrics against hand-computed values (card precision@k as published)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from models.metrics import (
    average_precision,
    card_days,
    card_precision_at_k,
    known_compromised,
    roc_auc,
)


def frame(rows: list[tuple[str, str, int, float]]) -> tuple[pd.DataFrame, np.ndarray]:
    """(datetime, card, label, score) rows -> frame with the published columns, scores."""
    df = pd.DataFrame(rows, columns=["TX_DATETIME", "CUSTOMER_ID", "TX_FRAUD", "score"])
    df["TX_DATETIME"] = pd.to_datetime(df["TX_DATETIME"])
    return df.drop(columns="score"), df["score"].to_numpy()


def test_auc_and_ap_hand_computed() -> None:
    labels, scores = [1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]
    assert average_precision(labels, scores) == pytest.approx((1 + 2 / 3) / 2)
    assert roc_auc(labels, scores) == pytest.approx(3 / 4)  # 3 of 4 (pos, neg) pairs ordered


def test_metrics_nan_when_undefined() -> None:
    assert np.isnan(roc_auc([0, 0], [0.1, 0.2]))
    assert np.isnan(average_precision([0, 0], [0.1, 0.2]))


def test_card_score_is_max_score_and_label_is_max_label() -> None:
    df, s = frame(
        [
            ("2018-08-01 10:00", "A", 0, 0.9),
            ("2018-08-01 11:00", "A", 1, 0.2),
            ("2018-08-02 09:00", "A", 0, 0.3),
        ]
    )
    cards = card_days(df, s)
    assert cards[["score", "label"]].to_numpy().tolist() == [[0.9, 1], [0.3, 0]]


DAYS = [
    ("2018-08-01 10:00", "A", 0, 0.9),
    ("2018-08-01 12:00", "A", 1, 0.2),  # A: 0.9, fraud
    ("2018-08-01 13:00", "B", 0, 0.8),
    ("2018-08-01 14:00", "C", 1, 0.3),
    ("2018-08-02 10:00", "A", 1, 0.95),
    ("2018-08-02 11:00", "C", 1, 0.6),
    ("2018-08-02 12:00", "D", 0, 0.5),
    ("2018-08-02 13:00", "E", 1, 0.1),
]


def test_card_precision_hand_computed_with_found_cards_removed() -> None:
    # Day 1: top 2 = A (fraud), B -> 1/2; A is found. Day 2 without A: C (fraud), D -> 1/2.
    df, s = frame(DAYS)
    cp = card_precision_at_k(df, s, k=2)
    assert cp.per_day == (0.5, 0.5)
    assert cp.mean == pytest.approx(0.5)


def test_card_precision_removal_matters() -> None:
    # Without removing A on day 2, the top 2 would be A, C -> 1.0; a card found is only found once.
    df, s = frame(DAYS)
    assert card_precision_at_k(df, s, k=2).per_day[1] == 0.5
    day2 = df["TX_DATETIME"].dt.day == 2
    assert card_precision_at_k(df[day2], s[day2.to_numpy()], k=2).per_day == (1.0,)


def test_card_precision_divides_by_k_on_small_days() -> None:
    df, s = frame([("2018-08-01 10:00", "A", 1, 0.9)])
    assert card_precision_at_k(df, s, k=100).mean == pytest.approx(0.01)


def test_known_compromised_training_frauds_and_growing_set() -> None:
    start = date(2018, 7, 25)  # training 07-25..07-31, gap 08-01..08-07, test 08-08..08-14
    df, _ = frame(
        [
            ("2018-07-26 10:00", "A", 1, 0.0),  # fraud in training: known from test day 0
            ("2018-08-08 10:00", "A", 0, 0.0),
            (
                "2018-08-02 10:00",
                "B",
                1,
                0.0,
            ),  # fraud on gap day 1 = start + 7 + 2 - 1: known day 2
            ("2018-08-09 10:00", "B", 0, 0.0),
            ("2018-08-10 10:00", "B", 0, 0.0),
            ("2018-08-08 11:00", "C", 0, 0.0),  # never defrauded
            ("2018-07-20 10:00", "D", 1, 0.0),  # fraud before training: not known
            ("2018-08-08 12:00", "D", 0, 0.0),
        ]
    )
    known = known_compromised(df, start)
    assert known.tolist() == [False, True, False, False, True, False, False, False]
