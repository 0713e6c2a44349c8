"""Detection metrics of the reference benchmark (see docs/benchmark-data.md).

ROC AUC and average precision are transaction-level (scikit-learn). Card precision@k models an
analyst team that checks k cards a day:

1. per test day, each card's score is its highest transaction score that day and its label its
   highest label that day;
2. the k best-scored cards are checked; precision = frauds among them / k;
3. the frauds found are removed from the later days of the same test week (already blocked);
4. the result is the mean over the days.

Days are UTC calendar days of ``TX_DATETIME`` (naive timestamps are UTC), the same clock the
feature windows use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from features.offline import event_ms
from features.registry import DAY_MS

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class CardPrecision:
    """Card precision@k: the mean over days and the value of each day (in day order)."""

    k: int
    mean: float
    per_day: tuple[float, ...]


def roc_auc(labels: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Transaction-level ROC AUC; NaN when only one class is present."""
    y = np.asarray(labels)
    if np.unique(y).size < 2:
        return float("nan")
    return float(roc_auc_score(y, np.asarray(scores, dtype=np.float64)))


def average_precision(labels: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Transaction-level average precision (area under the PR curve, step-wise)."""
    y = np.asarray(labels)
    if not y.any():
        return float("nan")
    return float(average_precision_score(y, np.asarray(scores, dtype=np.float64)))


def day_numbers(times: pd.Series) -> IntArray:
    """UTC day number (days since 1970-01-01) of each timestamp."""
    return np.floor_divide(event_ms(times), DAY_MS)


def day_number(day: date) -> int:
    """Day number of a calendar date, on the same scale as :func:`day_numbers`."""
    return (day - date(1970, 1, 1)).days


def card_days(
    frame: pd.DataFrame,
    scores: npt.ArrayLike,
    *,
    card_col: str = "CUSTOMER_ID",
    time_col: str = "TX_DATETIME",
    label_col: str = "TX_FRAUD",
) -> pd.DataFrame:
    """One row per (day, card): the card's highest score and highest label that day."""
    parts = pd.DataFrame(
        {
            "day": day_numbers(frame[time_col]),
            "card": frame[card_col].to_numpy(),
            "score": np.asarray(scores, dtype=np.float64),
            "label": frame[label_col].to_numpy(dtype=np.int64),
        }
    )
    return parts.groupby(["day", "card"], sort=True, as_index=False).max()


def card_precision_at_k(
    frame: pd.DataFrame,
    scores: npt.ArrayLike,
    k: int = 100,
    *,
    card_col: str = "CUSTOMER_ID",
    time_col: str = "TX_DATETIME",
    label_col: str = "TX_FRAUD",
    checked_from: float | None = None,
) -> CardPrecision:
    """Card precision@k as published (module docstring); a day with < k cards still divides by k.

    With ``checked_from``, a card whose best score of the day is below it is never checked (a
    decision policy's analysts see only the cards it flagged, however few).
    """
    cards = card_days(frame, scores, card_col=card_col, time_col=time_col, label_col=label_col)
    found: set[object] = set()
    per_day: list[float] = []
    for _, day in cards.groupby("day", sort=True):
        day = day[~day["card"].isin(found)]
        if checked_from is not None:
            day = day[day["score"] >= checked_from]
        top = day.sort_values(["score", "card"], ascending=[False, True], kind="mergesort").head(k)
        hits = top.loc[top["label"] > 0, "card"]
        found.update(hits.tolist())
        per_day.append(len(hits) / k)
    mean = float(np.mean(per_day)) if per_day else float("nan")
    return CardPrecision(k=k, mean=mean, per_day=tuple(per_day))


def known_compromised(
    frame: pd.DataFrame,
    train_start: date,
    *,
    train_days: int = 7,
    delay_days: int = 7,
    test_days: int = 7,
    card_col: str = "CUSTOMER_ID",
    time_col: str = "TX_DATETIME",
    label_col: str = "TX_FRAUD",
) -> BoolArray:
    """Rows of the test block whose card is already known to be compromised (to be dropped).

    Known on test day d (d = 0 .. test_days - 1): the cards with a fraud in the training block
    ``[train_start, train_start + train_days)``, plus those with a fraud on any day from
    ``train_start + train_days`` up to day ``train_start + train_days + d - 1`` (labels arrive
    ``delay_days`` after the transaction, so that is what the analysts know by then). The set only
    grows. Rows outside the test block are never marked.
    """
    days = day_numbers(frame[time_col])
    cards = frame[card_col].to_numpy()
    fraud = frame[label_col].to_numpy(dtype=np.int64) > 0
    start = day_number(train_start)
    known = set(cards[fraud & (days >= start) & (days < start + train_days)].tolist())
    out = np.zeros(len(frame), dtype=np.bool_)
    test0 = start + train_days + delay_days
    for d in range(test_days):
        newly = fraud & (days == start + train_days + d - 1)
        known.update(cards[newly].tolist())
        today = days == test0 + d
        out[today] = pd.Series(cards[today]).isin(known).to_numpy()
    return out
