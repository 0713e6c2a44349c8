"""The protocol's split rules: block dates, windows, known-compromised cards, fold dates."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from models.errors import DataError
from models.protocol import (
    PUBLISHED_TEST_STARTS,
    WARMUP_DAYS,
    fold_starts,
    make_split,
    stopping_start,
    validation_starts,
)


def daily(first: date, n_days: int, per_day: int = 3) -> pd.DataFrame:
    """``per_day`` transactions a day at noon-ish, card i % 5, no fraud."""
    rows = []
    for d in range(n_days):
        for i in range(per_day):
            when = pd.Timestamp(first + timedelta(days=d)) + pd.Timedelta(hours=10 + i)
            rows.append((when, f"c{i % 5}", 0))
    df = pd.DataFrame(rows, columns=["TX_DATETIME", "CUSTOMER_ID", "TX_FRAUD"])
    df["TX_AMOUNT"], df["TERMINAL_ID"] = 10.0, 1
    df["TRANSACTION_ID"] = np.arange(len(df))
    return df


def days_of(df: pd.DataFrame, mask: np.ndarray) -> list[date]:
    return sorted({t.date() for t in df.loc[mask, "TX_DATETIME"]})


def test_strict_split_blocks() -> None:
    df = daily(date(2018, 7, 1), 60)
    split = make_split(df, date(2018, 7, 25), "strict")
    assert days_of(df, split.train) == [date(2018, 7, 25) + timedelta(days=i) for i in range(7)]
    assert days_of(df, split.test) == [date(2018, 8, 8) + timedelta(days=i) for i in range(7)]
    assert split.test_start == date(2018, 8, 8) and split.train_end == date(2018, 8, 1)
    assert split.dropped_known == 0


def test_test_block_drops_known_compromised() -> None:
    df = daily(date(2018, 7, 1), 60)
    df.loc[df["TX_DATETIME"].dt.date == date(2018, 7, 26), "TX_FRAUD"] = 1  # c0, c1, c2 known
    split = make_split(df, date(2018, 7, 25), "strict")
    test_cards = set(df.loc[split.test, "CUSTOMER_ID"])
    assert test_cards.isdisjoint({"c0", "c1", "c2"})
    assert split.dropped_known == 3 * 7


def test_history_window_ends_at_gap_and_skips_warmup() -> None:
    first = date(2018, 4, 1)
    df = daily(first, 140)
    split = make_split(df, date(2018, 7, 25), "history")
    train_days = days_of(df, split.train)
    assert train_days[0] == first + timedelta(days=WARMUP_DAYS)
    assert train_days[-1] == date(2018, 7, 31)
    limited = make_split(df, date(2018, 7, 25), "history", history_days=28)
    assert days_of(df, limited.train)[0] == date(2018, 8, 1) - timedelta(days=28)
    assert not (split.train & split.test).any()


def test_validation_folds_are_published_and_end_before_the_first_test_week() -> None:
    starts = validation_starts(PUBLISHED_TEST_STARTS)
    assert starts == [date(2018, 7, 11), date(2018, 7, 4), date(2018, 6, 27), date(2018, 6, 20)]
    first_test_day = min(PUBLISHED_TEST_STARTS) + timedelta(days=14)
    assert max(starts) + timedelta(days=20) < first_test_day


def test_early_stopping_fold_stops_on_own_block_before_test_week() -> None:
    start = date(2018, 8, 15)
    stop = stopping_start(start)
    assert stop + timedelta(days=14) == start  # its test week is this fold's training block
    assert stop + timedelta(days=20) < start + timedelta(days=14)


def test_fold_starts_published_when_covered() -> None:
    df = daily(date(2018, 4, 1), 183, per_day=1)
    assert fold_starts(df, 4) == list(PUBLISHED_TEST_STARTS)
    assert fold_starts(df, 1) == [date(2018, 7, 25)]


def test_fold_starts_anchored_on_last_day_for_other_data() -> None:
    df = daily(date(2021, 1, 1), 70, per_day=1)
    starts = fold_starts(df, 4)
    assert starts[0] + timedelta(days=20) == date(2021, 3, 11)  # newest test week ends last day
    assert [a - b for a, b in itertools.pairwise(starts)] == [timedelta(days=7)] * 3


def test_fold_starts_too_short_is_a_clear_error() -> None:
    with pytest.raises(DataError, match="need at least 35 days"):
        fold_starts(daily(date(2021, 1, 1), 30, per_day=1), 1)


def test_unknown_window_rejected() -> None:
    with pytest.raises(DataError, match="unknown training window"):
        make_split(daily(date(2018, 7, 1), 60), date(2018, 7, 25), "all")  # type: ignore[arg-type]
