"""Champion vs challenger on the labelled stream: join score records with labels by event id.

The score records carry both the serving model's score and, when a challenger is configured,
the shadow model's score for the same features. Labels arrive later on ``fraud.labels``; events
without a fraud label count as legitimate once they are older than the label delay (what the
benchmark assumes), so only events at least ``delay`` older than the newest label are compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import orjson
from sklearn.metrics import average_precision_score, roc_auc_score

from core.reading import read_to_end, reader
from core.settings import Settings


@dataclass(frozen=True)
class Comparison:
    events: int
    frauds: int
    champion: str
    challenger: str
    auc: tuple[float, float]
    average_precision: tuple[float, float]


def read_topic(settings: Settings, topic: str) -> list[dict[str, object]]:
    """Every JSON record of a topic, from the beginning to the current end (no group commit)."""
    c = reader(settings, "fraudscore-compare")
    try:
        return [orjson.loads(m.value() or b"{}") for m in read_to_end(c, topic)]
    finally:
        c.close()


def compare(
    scores: list[dict[str, object]],
    labels: list[dict[str, object]],
    delay: timedelta = timedelta(days=7),
) -> Comparison:
    """AUC and AP of champion and challenger on events whose labels are due.

    Workers follow the registry, so the stream can hold several champion/challenger pairs: only
    the pair of the newest shadow-scored event is compared, never a blend of models.
    """
    shadowed = [s for s in scores if s.get("challenger_score") is not None]
    if not shadowed:
        raise ValueError(
            "no score record carries a challenger score; keep a challenger first (the promotion "
            "gate does, or pin one with FRAUDSCORE_CHALLENGER_VERSION)"
        )
    newest = max(shadowed, key=lambda s: str(s["event_time"]).replace("Z", ""))
    pair = (newest["model_version"], newest["challenger_version"])
    shadowed = [s for s in shadowed if (s["model_version"], s["challenger_version"]) == pair]
    fraud = {str(lab["event_id"]) for lab in labels if lab.get("is_fraud")}
    last_label = max((str(lab["label_time"]) for lab in labels), default=None)
    if last_label is None:
        raise ValueError("no labels yet on the labels topic")
    cutoff = (np.datetime64(last_label.replace("Z", "")) - np.timedelta64(delay)).astype(str)
    due = [s for s in shadowed if str(s["event_time"]).replace("Z", "") <= cutoff]
    if not due:
        raise ValueError("no shadow-scored event is older than the label delay yet")
    y = np.array([str(s["event_id"]) in fraud for s in due], dtype=int)
    a = np.array([float(s["score"]) for s in due])  # type: ignore[arg-type]
    b = np.array([float(s["challenger_score"]) for s in due])  # type: ignore[arg-type]
    both = y.min() != y.max()
    return Comparison(
        events=len(due),
        frauds=int(y.sum()),
        champion=str(due[0]["model_version"]),
        challenger=str(due[0]["challenger_version"]),
        auc=(float(roc_auc_score(y, a)), float(roc_auc_score(y, b))) if both else (np.nan,) * 2,
        average_precision=(
            float(average_precision_score(y, a)),
            float(average_precision_score(y, b)),
        ),
    )
