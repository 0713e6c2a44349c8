"""``decide``: one batch of events, their raw aggregates and a model -> decisions.

1. the feature matrix from the raw aggregates (``decision.features``);
2. one predict call for the batch (and one for the shadow challenger, if any);
3. a tier for every score over the review threshold and, with a policy (``decision.rules``),
   the rules' actions on top, and the allow and block lists over both (``decision.lists``): one
   decision per event;
4. reasons for the rows decided ``review`` or ``block`` only (TreeSHAP costs hundreds of times a
   plain predict).

Everything depends only on the inputs: the same events and aggregates give the same decisions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from core.messages import Reason, TransactionEvent
from decision.features import feature_matrix
from decision.lists import match_lists
from decision.model import FloatArray, ScoringModel
from decision.policy import SEVERITY, Action
from decision.rules import Ruleset
from features.lists import ListSnapshot

Tier = Literal["review", "block"]
TIERS: dict[int, Tier] = {SEVERITY["review"]: "review", SEVERITY["block"]: "block"}


def model_severity(
    scores: FloatArray, threshold: float, block_threshold: float | None
) -> npt.NDArray[np.int8]:
    """The model's tier of each score as a severity (``decision.policy.SEVERITY``): review at
    or above the threshold, block at or above the block threshold if there is one."""
    severity = np.where(scores >= threshold, SEVERITY["review"], SEVERITY["allow"])
    if block_threshold is not None:
        severity[scores >= block_threshold] = SEVERITY["block"]
    return severity.astype(np.int8)


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
    partial: npt.NDArray[np.bool_] | None = None  # rows scored on partial windows, if any
    reasons: dict[int, tuple[Reason, ...]] = field(default_factory=dict)
    tiers: dict[int, Tier] = field(default_factory=dict)
    challenger_version: str | None = None
    challenger_scores: FloatArray | None = None
    policy_version: str | None = None
    fired: dict[int, tuple[str, ...]] = field(default_factory=dict)  # lists + active rules, rows
    shadow: dict[int, tuple[str, ...]] = field(default_factory=dict)  # shadow rules, likewise
    rule_failures: dict[str, int] = field(default_factory=dict)  # rule id -> rows left undecided
    lists_version: int | None = None  # the lists in force, if any
    list_hits: dict[str, int] = field(default_factory=dict)  # list id -> rows it matched

    def action(self, i: int) -> Action:
        return self.tiers.get(i, "allow")

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
    partial: npt.NDArray[np.bool_] | None = None,
    challenger: ScoringModel | None = None,
    rules: Ruleset | None = None,
    lists: ListSnapshot | None = None,
) -> Decisions:
    """Decide a batch: score it, apply the policy's rules and the lists if any, explain what was
    flagged.

    A challenger, if any, is scored on the same matrix; its scores never change a decision.
    """
    x = feature_matrix(events, raw)
    version = rules.version if rules is not None else None
    if not events:
        empty = np.empty(0)
        return Decisions(
            events, x, empty, model.version, model.threshold, degraded, policy_version=version
        )
    scores = model.predict(x)
    severity = model_severity(scores, model.threshold, model.block_threshold)
    flagged = np.flatnonzero(severity)
    tiers: dict[int, Tier] = {i: TIERS[int(severity[i])] for i in flagged.tolist()}
    d = Decisions(events, x, scores, model.version, model.threshold, degraded, partial)
    if rules is not None:
        model_actions: list[Action] = [tiers.get(i, "allow") for i in range(len(events))]
        applied = rules.apply(events, x, scores, model_actions)
        tiers = {i: a for i, a in enumerate(applied.actions) if a != "allow"}
        flagged = np.array(sorted(tiers), dtype=np.int64)
        d.policy_version, d.fired, d.shadow = version, applied.fired, applied.shadow
        d.rule_failures = applied.failed
    if lists is not None:
        d.lists_version = lists.version
        hits = match_lists(lists, events)
        if hits.ids:
            for i, action in hits.actions.items():
                if action == "block":
                    tiers[i] = "block"
                else:
                    tiers.pop(i, None)
            rows = sorted(hits.ids.keys() | d.fired.keys())
            d.fired = {i: hits.ids.get(i, ()) + d.fired.get(i, ()) for i in rows}
            d.list_hits = hits.counts
            flagged = np.array(sorted(tiers), dtype=np.int64)
    d.tiers = tiers
    d.reasons = dict(zip(flagged.tolist(), model.reasons(x[flagged], top_k), strict=True))
    if challenger is not None:
        d.challenger_version, d.challenger_scores = challenger.version, challenger.predict(x)
    return d
