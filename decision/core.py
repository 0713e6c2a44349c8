"""``decide``: one batch of events, their raw aggregates and a model -> decisions.

1. the feature matrix from the raw aggregates (``decision.features``);
2. one predict call for the batch (and one for the shadow challenger, if any);
3. a tier for every score over the review threshold, and reasons for those rows only
   (TreeSHAP costs hundreds of times a plain predict).

Everything depends only on the inputs: the same events and aggregates give the same decisions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from core.messages import Reason, TransactionEvent
from decision.features import feature_matrix
from decision.model import FloatArray, ScoringModel

Tier = Literal["review", "block"]


@dataclass(slots=True)
class Decisions:
    """A batch's decisions, row ``i`` for ``events[i]``; ``reasons`` and ``tiers`` hold the
    flagged rows only."""

    events: Sequence[TransactionEvent]
    x: FloatArray
    scores: FloatArray
    model_version: str
    threshold: float
    degraded: bool = False
    reasons: dict[int, tuple[Reason, ...]] = field(default_factory=dict)
    tiers: dict[int, Tier] = field(default_factory=dict)
    challenger_version: str | None = None
    challenger_scores: FloatArray | None = None

    def __len__(self) -> int:
        return len(self.events)

    @property
    def flagged(self) -> int:
        return len(self.tiers)


def decide(
    events: Sequence[TransactionEvent],
    raw: FloatArray,
    model: ScoringModel,
    *,
    top_k: int,
    degraded: bool = False,
    challenger: ScoringModel | None = None,
) -> Decisions:
    """Decide a batch: score it, flag what passes the threshold, explain what was flagged.

    A challenger, if any, is scored on the same matrix; its scores never change a decision.
    """
    x = feature_matrix(events, raw)
    if not events:
        empty = np.empty(0)
        return Decisions(events, x, empty, model.version, model.threshold, degraded)
    scores = model.predict(x)
    flagged = np.flatnonzero(scores >= model.threshold)
    reasons = dict(zip(flagged.tolist(), model.reasons(x[flagged], top_k), strict=True))
    block = model.block_threshold
    tiers: dict[int, Tier] = {
        i: "block" if block is not None and scores[i] >= block else "review" for i in reasons
    }
    return Decisions(
        events,
        x,
        scores,
        model.version,
        model.threshold,
        degraded,
        reasons,
        tiers,
        challenger.version if challenger is not None else None,
        challenger.predict(x) if challenger is not None else None,
    )
