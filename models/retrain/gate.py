"""The promotion gate: should a candidate replace the champion? A pure decision, then its effect.

``decide`` compares the holdout metrics of a candidate and of the champion, measured on the same
labelled week (``models.retrain.run``), and returns a :class:`Decision` whose reasons carry the
numbers. The rule, with the settings that tune it (``GateRule.from_settings``):

1. **Floors**: each candidate metric must reach its floor (``gate_min_auc``,
   ``gate_min_average_precision``, ``gate_min_card_precision``); a metric that cannot be measured
   (no fraud in the holdout) fails its floor. A candidate below a floor is discarded.
2. **No champion**: a candidate that passes the floors is promoted.
3. **Better by a margin**: the gate metric (``gate_metric``, default average precision) must beat
   the champion's by at least ``gate_margin``, and no other metric may fall more than
   ``gate_max_drop`` below the champion's. Both hold: promote.
4. Otherwise the candidate is kept as the **challenger** (shadow-scored, watched on live labels)
   when it is close, i.e. its gate metric is at most ``gate_max_drop`` below the champion's;
   when it is further behind it is **discarded**.

Why average precision by default: it uses every fraud of the holdout and no threshold, so it moves
smoothly with small holdouts; card precision@100 is capped by the fraudulent cards a day (a week
with 20 of them cannot tell two models apart once both find all 20) and moves in steps of 1/700.
CP@100 still guards the analysts' daily yield through the max-drop rule.

``apply`` makes the decision happen in the registry (promote, keep as challenger, or only log)
under the registry's lock, after checking the champion is still the one measured; ``mode``
``never`` logs the verdict without acting, ``force`` promotes whatever the verdict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from core.settings import Settings
from models import registry

METRICS = ("average_precision", "card_precision_at_100", "auc")
LABELS = {"average_precision": "AP", "card_precision_at_100": "CP@100", "auc": "AUC"}
Outcome = Literal["promote", "challenger", "discard"]
Mode = Literal["auto", "never", "force"]
MODES: tuple[Mode, ...] = ("auto", "never", "force")


@dataclass(frozen=True)
class GateRule:
    """What a candidate must show (module docstring)."""

    metric: str = "average_precision"
    margin: float = 0.01
    max_drop: float = 0.02
    floors: Mapping[str, float] = field(
        default_factory=lambda: {"auc": 0.7, "average_precision": 0.1, "card_precision_at_100": 0}
    )

    @classmethod
    def from_settings(cls, s: Settings) -> GateRule:
        floors = {
            "auc": s.gate_min_auc,
            "average_precision": s.gate_min_average_precision,
            "card_precision_at_100": s.gate_min_card_precision,
        }
        return cls(s.gate_metric, s.gate_margin, s.gate_max_drop, floors)


@dataclass(frozen=True)
class Decision:
    """The gate's verdict on one candidate, with the numbers behind it."""

    outcome: Outcome
    candidate: str
    champion: str | None
    rule: GateRule
    candidate_metrics: Mapping[str, float]
    champion_metrics: Mapping[str, float] | None
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rule"]["floors"] = dict(self.rule.floors)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Decision:
        rule = GateRule(**data["rule"])
        return cls(
            outcome=data["outcome"],
            candidate=str(data["candidate"]),
            champion=data.get("champion"),
            rule=rule,
            candidate_metrics=dict(data["candidate_metrics"]),
            champion_metrics=data.get("champion_metrics"),
            reasons=tuple(data.get("reasons", ())),
        )


def _f(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.4f}"


def _floor_failures(metrics: Mapping[str, float], rule: GateRule) -> list[str]:
    out = []
    for name in METRICS:
        value, floor = float(metrics.get(name, math.nan)), float(rule.floors.get(name, 0.0))
        if math.isnan(value):
            out.append(f"{LABELS[name]} cannot be measured on the holdout (no fraud in it?)")
        elif value < floor:
            out.append(f"{LABELS[name]} {_f(value)} is below the floor {floor:g}")
    return out


def decide(
    candidate: str,
    candidate_metrics: Mapping[str, float],
    champion: str | None,
    champion_metrics: Mapping[str, float] | None,
    rule: GateRule,
) -> Decision:
    """The verdict on ``candidate`` against ``champion`` (None: nothing is served yet)."""
    if rule.metric not in METRICS:
        raise ValueError(f"unknown gate metric {rule.metric!r}; use one of {list(METRICS)}")

    def verdict(outcome: Outcome, reasons: list[str]) -> Decision:
        return Decision(
            outcome,
            candidate,
            champion,
            rule,
            dict(candidate_metrics),
            dict(champion_metrics) if champion_metrics is not None else None,
            tuple(reasons),
        )

    floors = _floor_failures(candidate_metrics, rule)
    if floors:
        return verdict("discard", floors)
    if champion is None or champion_metrics is None:
        return verdict("promote", ["no model is served yet and every floor is met"])
    name, label = rule.metric, LABELS[rule.metric]
    mine, theirs = float(candidate_metrics[name]), float(champion_metrics.get(name, math.nan))
    gain = mine - theirs if not math.isnan(theirs) else math.inf
    reasons = [
        f"{label} {_f(mine)} vs champion {_f(theirs)}: {gain:+.4f} "
        + ("meets" if gain >= rule.margin else "misses")
        + f" the margin {rule.margin:g}"
    ]
    drops = []
    for other in (m for m in METRICS if m != name):
        a, b = float(candidate_metrics[other]), float(champion_metrics.get(other, math.nan))
        if not math.isnan(b) and b - a > rule.max_drop:
            drops.append(
                f"{LABELS[other]} {_f(a)} is {b - a:.4f} below the champion's {_f(b)} "
                f"(more than {rule.max_drop:g})"
            )
    reasons += drops
    if gain >= rule.margin and not drops:
        return verdict("promote", reasons)
    if gain >= -rule.max_drop:
        return verdict("challenger", [*reasons, "close enough to watch in shadow"])
    return verdict("discard", [*reasons, f"more than {rule.max_drop:g} behind the champion"])


def apply(root: Path, decision: Decision, mode: Mode = "auto") -> dict[str, Any]:
    """Make ``decision`` happen in the registry and log it; returns the log entry.

    The champion must still be the one the candidate was measured against: if another process
    promoted or rolled back meanwhile, nothing moves and the entry says so (``stale``).
    """
    entry: dict[str, Any] = {"gate": decision.to_dict(), "mode": mode}
    with registry.locked(root):
        served = registry.current_version(root)
        if served != decision.champion:
            why = f"the served model changed from {decision.champion} to {served} meanwhile"
            entry |= {"reason": f"{why}; run the retrain again", "stale": True}
            return registry.record_decision(
                root, {"action": "hold", "version": decision.candidate, **entry}
            )
        if mode == "force" or (mode == "auto" and decision.outcome == "promote"):
            forced = mode == "force" and decision.outcome != "promote"
            reason = f"forced (the gate said {decision.outcome})" if forced else "gate: promote"
            registry.promote(root, decision.candidate, reason=reason, details=entry)
            return registry.decisions(root)[-1]
        if mode == "auto" and decision.outcome == "challenger":
            registry.set_challenger(
                root, decision.candidate, {**entry, "reason": "gate: challenger"}
            )
            return registry.decisions(root)[-1]
        action = "discard" if mode == "auto" else "hold"
        reason = (
            "gate: discard"
            if mode == "auto"
            else f"--promote never (the gate said {decision.outcome})"
        )
        return registry.record_decision(
            root, {"action": action, "version": decision.candidate, "reason": reason, **entry}
        )
