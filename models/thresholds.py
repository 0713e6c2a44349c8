"""Alert thresholds chosen on a labelled validation block, in the analysts' unit: cards per day.

The review tier flags about ``budget_per_day`` cards a day (or the lowest score still reaching a
target precision); the block tier is a stricter threshold flagging a share of what review flags
(by default the top 10%). Each threshold carries the precision, recall and daily volume it had on
the block where it was chosen, so the alert volume can be checked against it later.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from models.errors import DataError
from models.metrics import card_days


@dataclass(frozen=True, slots=True)
class ThresholdStats:
    """A score threshold and what flagging ``score >= threshold`` did on a labelled block."""

    threshold: float
    precision: float  # frauds among flagged cards (card-days)
    recall: float  # flagged fraud cards among all fraud cards (card-days)
    cards_per_day: float


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The two alert tiers and how they were chosen."""

    review: ThresholdStats
    block: ThresholdStats
    rule: str  # e.g. "budget 100 cards/day" or "precision >= 0.50"

    def to_dict(self) -> dict[str, Any]:
        return {"review": asdict(self.review), "block": asdict(self.block), "rule": self.rule}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Thresholds:
        return cls(
            ThresholdStats(**data["review"]), ThresholdStats(**data["block"]), str(data["rule"])
        )


def stats_at(cards: pd.DataFrame, threshold: float) -> ThresholdStats:
    """Precision, recall and cards/day of ``score >= threshold`` on card-days (``card_days``)."""
    flagged = cards["score"].to_numpy() >= threshold
    labels = cards["label"].to_numpy() > 0
    n_days = max(int(cards["day"].nunique()), 1)
    hits = int((flagged & labels).sum())
    precision = hits / int(flagged.sum()) if flagged.any() else float("nan")
    recall = hits / int(labels.sum()) if labels.any() else float("nan")
    return ThresholdStats(float(threshold), precision, recall, int(flagged.sum()) / n_days)


def _sorted_scores(cards: pd.DataFrame) -> npt.NDArray[np.float64]:
    if cards.empty:
        raise DataError("no labelled validation rows to choose thresholds on")
    return np.sort(cards["score"].to_numpy(dtype=np.float64))[::-1]


def threshold_for_volume(cards: pd.DataFrame, cards_per_day: float) -> float:
    """The score that flags about ``cards_per_day`` card-days per day of the block."""
    scores = _sorted_scores(cards)
    n_days = max(int(cards["day"].nunique()), 1)
    rank = round(cards_per_day * n_days)
    return float(scores[min(max(rank, 1), len(scores)) - 1])


def threshold_for_precision(cards: pd.DataFrame, target: float) -> float:
    """The lowest score whose flagged card-days still reach ``target`` precision."""
    order = np.argsort(-cards["score"].to_numpy(dtype=np.float64), kind="mergesort")
    scores = cards["score"].to_numpy(dtype=np.float64)[order]
    labels = (cards["label"].to_numpy() > 0)[order]
    precision = np.cumsum(labels) / np.arange(1, len(labels) + 1)
    ok = np.flatnonzero(precision >= target)
    if ok.size == 0:
        best = float(precision.max()) if precision.size else float("nan")
        raise DataError(
            f"no threshold reaches precision {target:.2f} on the validation block "
            f"(best {best:.2f}); lower the target or use a budget"
        )
    return float(scores[ok[-1]])


def choose_thresholds(
    frame: pd.DataFrame,
    scores: npt.ArrayLike,
    *,
    budget_per_day: float = 100,
    target_precision: float | None = None,
    block_share: float = 0.1,
) -> Thresholds:
    """Review and block thresholds on a labelled block (rows of ``frame`` scored ``scores``)."""
    cards = card_days(frame, scores)
    if target_precision is not None:
        review = stats_at(cards, threshold_for_precision(cards, target_precision))
        rule = f"precision >= {target_precision:.2f}"
    else:
        review = stats_at(cards, threshold_for_volume(cards, budget_per_day))
        rule = f"budget {budget_per_day:g} cards/day"
    block_volume = max(review.cards_per_day * block_share, 1.0 / cards["day"].nunique())
    block = stats_at(cards, max(threshold_for_volume(cards, block_volume), review.threshold))
    return Thresholds(review, block, f"{rule}; block = top {block_share:.0%} of review")
