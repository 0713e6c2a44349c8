"""The benchmark protocol: 7 days of training, a 7-day gap (the label delay), 7 days of test.

Test block: the cards already known to be compromised are dropped (``metrics.known_compromised``).
Training window: ``"strict"`` is the published 7-day block; ``"history"`` is all labelled history
that ends where the gap begins (what a deployed system would train on), minus a warm-up at the
start of the data where the 30-day windows and the 7-day label delay are not yet filled.

Headline protocol: 4 prequential test folds whose training blocks start on 2018-08-15, 08-08,
08-01 and 07-25; hyper-parameters are chosen on the validation folds (2018-07-11, 07-04, 06-27,
06-20; ``validation_starts``), which end before the first test week begins. Data with other dates
get the same layout anchored on their last day (``fold_starts``).

Each fold's model stops early on a block of its own past (``stopping_start``), never on its test
week.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.registry import LABEL_DELAY_DAYS, WINDOWS_DAYS
from models.errors import DataError
from models.metrics import day_number, day_numbers, known_compromised

TRAIN_DAYS = 7
GAP_DAYS = 7
TEST_DAYS = 7
FOLD_STEP_DAYS = 7
STOPPING_OFFSET_DAYS = GAP_DAYS + TEST_DAYS  # early-stopping fold: training start 14 days earlier
WARMUP_DAYS = LABEL_DELAY_DAYS + max(WINDOWS_DAYS)  # before this, windows are truncated

SINGLE_SPLIT_START = date(2018, 7, 25)
PUBLISHED_TEST_STARTS = (date(2018, 8, 15), date(2018, 8, 8), date(2018, 8, 1), date(2018, 7, 25))

Window = Literal["strict", "history"]
WINDOWS: tuple[Window, ...] = ("strict", "history")
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Split:
    """Row masks (aligned with the frame) of one train/test unit of the protocol."""

    train_start: date
    window: Window
    train: BoolArray
    test: BoolArray
    dropped_known: int  # test-block rows dropped as known-compromised

    @property
    def test_start(self) -> date:
        return self.train_start + timedelta(days=TRAIN_DAYS + GAP_DAYS)

    @property
    def train_end(self) -> date:
        """First day after the training window (the gap starts here)."""
        return self.train_start + timedelta(days=TRAIN_DAYS)


def stopping_start(train_start: date) -> date:
    """Training start of a fold's early-stopping model: 14 days earlier.

    Its test week is then this fold's training block [S, S + 7): after the early-stopping model's
    own training data, before this fold's test week.
    """
    return train_start - timedelta(days=STOPPING_OFFSET_DAYS)


def validation_starts(test_starts: Sequence[date]) -> list[date]:
    """The hyper-parameter folds, newest first: the test folds' layout moved back so that the
    newest starts 14 days before the oldest test fold (2018-07-11, 07-04, 06-27, 06-20 for the
    published folds); every validation test week ends before the first test week begins."""
    oldest = min(test_starts)
    return [
        oldest - timedelta(days=STOPPING_OFFSET_DAYS + FOLD_STEP_DAYS * i)
        for i in range(len(test_starts))
    ]


def _date(day: int) -> date:
    return date(1970, 1, 1) + timedelta(days=day)


def data_span(df: pd.DataFrame) -> tuple[date, date]:
    """First and last calendar day (UTC) present in the data."""
    if df.empty:
        raise DataError("the dataset has no transactions")
    days = day_numbers(df["TX_DATETIME"])
    return _date(int(days.min())), _date(int(days.max()))


def train_window_mask(
    days: npt.NDArray[np.int64],
    train_start: date,
    window: Window,
    *,
    first_day: int,
    history_days: int | None = None,
    warmup_days: int = WARMUP_DAYS,
) -> BoolArray:
    """Training rows: the 7-day block, or all history after the warm-up up to the gap."""
    start = day_number(train_start)
    end = start + TRAIN_DAYS
    if window == "strict":
        return (days >= start) & (days < end)
    lo = first_day + warmup_days
    if history_days is not None:
        lo = max(lo, end - history_days)
    return (days >= min(lo, start)) & (days < end)


def make_split(
    df: pd.DataFrame,
    train_start: date,
    window: Window = "strict",
    *,
    history_days: int | None = None,
    warmup_days: int = WARMUP_DAYS,
) -> Split:
    """The protocol's split for one training start (see module docstring)."""
    if window not in WINDOWS:
        raise DataError(f"unknown training window {window!r}; use one of {list(WINDOWS)}")
    check_covers(df, [train_start])
    days = day_numbers(df["TX_DATETIME"])
    train = train_window_mask(
        days,
        train_start,
        window,
        first_day=int(days.min()),
        history_days=history_days,
        warmup_days=warmup_days,
    )
    test0 = day_number(train_start) + TRAIN_DAYS + GAP_DAYS
    block = (days >= test0) & (days < test0 + TEST_DAYS)
    known = known_compromised(
        df, train_start, train_days=TRAIN_DAYS, delay_days=GAP_DAYS, test_days=TEST_DAYS
    )
    return Split(train_start, window, train, block & ~known, int((block & known).sum()))


def check_covers(df: pd.DataFrame, train_starts: list[date]) -> None:
    """Raise DataError unless every fold (training block to end of test week) is in the data."""
    first, last = data_span(df)
    for start in train_starts:
        end = start + timedelta(days=TRAIN_DAYS + GAP_DAYS + TEST_DAYS - 1)
        if start < first or end > last:
            raise DataError(
                f"fold {start} needs data from {start} to {end}; "
                f"the dataset spans {first} to {last}"
            )


def fold_starts(df: pd.DataFrame, n_folds: int) -> list[date]:
    """Training starts of the test folds, newest first.

    The published dates when the data covers them and their early-stopping folds (the benchmark
    dataset), otherwise the same layout anchored so the newest test week ends on the last day.
    """
    if n_folds < 1:
        raise DataError("at least one fold is needed")
    first, last = data_span(df)
    published = [SINGLE_SPLIT_START] if n_folds == 1 else list(PUBLISHED_TEST_STARTS[:n_folds])
    if n_folds <= len(PUBLISHED_TEST_STARTS) and _covers(first, last, published):
        return published
    newest = last - timedelta(days=TRAIN_DAYS + GAP_DAYS + TEST_DAYS - 1)
    starts = [newest - timedelta(days=FOLD_STEP_DAYS * i) for i in range(n_folds)]
    if not _covers(first, last, starts):
        need = TRAIN_DAYS + GAP_DAYS + TEST_DAYS + STOPPING_OFFSET_DAYS
        need += FOLD_STEP_DAYS * (n_folds - 1)
        raise DataError(
            f"{n_folds} fold(s) need at least {need} days of data (validation fold included); "
            f"the dataset spans {first} to {last} ({(last - first).days + 1} days)"
        )
    return starts


def _covers(first: date, last: date, starts: list[date]) -> bool:
    span = TRAIN_DAYS + GAP_DAYS + TEST_DAYS - 1
    return all(stopping_start(s) >= first and s + timedelta(days=span) <= last for s in starts)
