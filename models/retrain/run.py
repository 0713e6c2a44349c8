"""Retraining: a candidate from recent labelled traffic, measured against the served champion.

The timeline of one retrain, in event time (days; ``cutoff`` = the newest event read, or
``until``; L = the last whole day whose labels are all due, i.e. that ends by cutoff - 7 days)::

    since ... S-14 .. S ....... S+7 ..... S+14 ....... S+21 = L+1 ... cutoff-7d ..... cutoff
              stopping fold   train ends  | gap (delay) | holdout week |  too recent: history only

1. :func:`build_training_set` takes the labelled history of ``(since, cutoff]``
   (``models.history``: duplicates dropped, the labels known at the cutoff, targets only for
   events at least the label delay old, point-in-time features as served) and checks it holds a
   whole fold.
2. :func:`retrain` trains the candidate with the benchmark protocol (``models.train``) on the
   fold S whose test week ends on L: that week is the **holdout**, after the training window and
   its gap; the champion is scored on the same rows with the same metric code.
3. The candidate is saved in the registry (not served), the gate decides (``models.retrain.gate``),
   the decision is applied and logged, and a comparison report is written
   (``models.retrain.report``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.registry import LABEL_DELAY_DAYS
from models import registry
from models.bundle import ModelBundle
from models.errors import DataError
from models.history import DELAY, labelled_history
from models.protocol import GAP_DAYS, STOPPING_OFFSET_DAYS, TEST_DAYS, TRAIN_DAYS, make_split
from models.retrain import gate as gates
from models.retrain.report import Champion, write_report
from models.retrain.source import StreamData
from models.thresholds import Thresholds
from models.train import FoldMetrics, evaluate, predict, train_model

FloatArray = npt.NDArray[np.float64]
FOLD_DAYS = TRAIN_DAYS + GAP_DAYS + TEST_DAYS  # fold start to the end of its test week
MIN_DAYS = FOLD_DAYS + STOPPING_OFFSET_DAYS + LABEL_DELAY_DAYS  # 42


@dataclass(frozen=True)
class TrainingSet:
    """Events in time order with point-in-time features and the targets known at the cutoff.

    ``frame`` has the published columns; TX_FRAUD is the label known at the cutoff, 0 for events
    younger than the label delay, which LABELLED marks False and no split ever selects.
    """

    frame: pd.DataFrame
    features: FloatArray
    since: pd.Timestamp
    cutoff: pd.Timestamp
    train_start: date  # fold S: trains before S + 7, holdout week [S + 14, S + 21)
    source: str

    @property
    def holdout(self) -> tuple[date, date]:
        """First and last day of the holdout week."""
        first = self.train_start + timedelta(days=TRAIN_DAYS + GAP_DAYS)
        return first, first + timedelta(days=TEST_DAYS - 1)

    def summary(self) -> dict[str, Any]:
        labelled = self.frame["LABELLED"].to_numpy()
        return {
            "source": self.source,
            "since": str(self.since),
            "cutoff": str(self.cutoff),
            "events": len(self.frame),
            "labelled_events": int(labelled.sum()),
            "too_recent_events": int((~labelled).sum()),
            "known_frauds": int(self.frame["TX_FRAUD"].sum()),
            "holdout": [str(d) for d in self.holdout],
        }


def _fold_start(frame: pd.DataFrame, cutoff: pd.Timestamp, source: str) -> date:
    last = (cutoff - DELAY + pd.Timedelta(milliseconds=1)).normalize() - pd.Timedelta(days=1)
    start = last.date() - timedelta(days=FOLD_DAYS - 1)
    first = frame["TX_DATETIME"].min().date() if len(frame) else last.date()
    if start - timedelta(days=STOPPING_OFFSET_DAYS) < first:
        days = (cutoff.date() - first).days + 1 if len(frame) else 0
        raise DataError(
            f"a retrain needs at least {MIN_DAYS} days of traffic (a stopping fold, a training "
            f"week, the gap, the holdout week and the {LABEL_DELAY_DAYS}-day label delay); "
            f"{source} holds {days} day(s) up to {cutoff}"
        )
    return start


def build_training_set(
    data: StreamData, *, until: pd.Timestamp | None = None, days: int = 90
) -> TrainingSet:
    """Step 1 of the module docstring: events in ``(until - days, until]`` and their labels."""
    h = labelled_history(data, until=until, days=days)
    start = _fold_start(h.frame, h.cutoff, data.source)
    return TrainingSet(h.frame, h.features, h.since, h.cutoff, start, data.source)


@dataclass(frozen=True)
class RetrainResult:
    """What one retrain produced and decided."""

    training: TrainingSet
    candidate: ModelBundle
    candidate_holdout: FoldMetrics
    champion: str | None
    champion_holdout: FoldMetrics | None
    decision: gates.Decision
    entry: dict[str, Any]  # the decisions-log line
    report: Path  # folder with report.md, report.json, pr_curves.png

    @property
    def action(self) -> str:
        """promote, challenger, discard or hold: what happened in the registry."""
        return str(self.entry["action"])


def _champion(root: Path) -> ModelBundle | None:
    """The served bundle, None before the first promotion (a broken one raises)."""
    return registry.current_bundle(root) if registry.current_version(root) else None


def score_champion(
    champion: ModelBundle, training: TrainingSet, history_days: int | None
) -> Champion:
    """The champion's scores and metrics on the holdout rows, with its own thresholds."""
    frame, start = training.frame, training.train_start
    split = make_split(frame, start, "history", history_days=history_days)
    scores = predict(champion.booster, training.features[split.test])
    thresholds = Thresholds.from_dict(dict(champion.metadata["thresholds"]))
    return champion, evaluate(frame, split, scores, thresholds), scores


def holdout_metrics(m: FoldMetrics) -> dict[str, float]:
    return {
        "auc": m.auc,
        "average_precision": m.average_precision,
        "card_precision_at_100": m.card_precision_at_100,
    }


def retrain(
    training: TrainingSet,
    root: Path,
    reports_dir: Path,
    *,
    rule: gates.GateRule | None = None,
    mode: gates.Mode = "auto",
    budget_per_day: float = 100,
    history_days: int | None = 28,
    params: dict[str, Any] | None = None,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> RetrainResult:
    """Steps 2 and 3 of the module docstring, on a built training set."""
    say = progress or (lambda _m: None)
    frame, x, start = training.frame, training.features, training.train_start
    champion = _champion(root)
    result = train_model(
        frame,
        train_start=start,
        window="history",
        params=params,
        budget_per_day=budget_per_day,
        history_days=history_days,
        features=x,
        seed=seed,
        progress=say,
    )
    measured = None
    if champion is not None:
        say(f"scoring the champion {champion.version} on the holdout")
        measured = score_champion(champion, training, history_days)
    say("saving the candidate")
    extra = {"retrain": {**training.summary(), "champion": champion and champion.version}}
    bundle = registry.add_bundle(root, result, [result], promote_it=False, extra=extra)
    decision = gates.decide(
        bundle.version,
        holdout_metrics(result.metrics),
        champion.version if champion else None,
        holdout_metrics(measured[1]) if measured else None,
        rule or gates.GateRule(),
    )
    entry = gates.apply(root, decision, mode)
    say("writing the report")
    folder = write_report(
        reports_dir / bundle.version,
        training=training.summary(),
        candidate=result,
        champion=measured,
        decision=decision,
        entry=entry,
    )
    champ_metrics = measured[1] if measured else None
    return RetrainResult(
        training, bundle, result.metrics, decision.champion, champ_metrics, decision, entry, folder
    )
