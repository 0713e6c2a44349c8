"""The feature state audited: served features against the training code's, from the topics.

``audit`` reads the transactions and labels topics back (``models.retrain.source``), recomputes
every event's point-in-time features with the offline feature code, as retraining does
(``models.history.labelled_history``: labels reach the store at most the label delay late), and
compares a random sample of the events the workers served (``fraud.samples``: each sampled event's
feature vector as scored) with them. A mismatch is skew between what the model is trained on and
what it is served: a store that lost or gained events (restored from an old copy, written by
hand, a bug), or a change to one of the two feature paths only.

Only events whose windows the topics hold whole are checked: those at least the features' reach
after the first transaction, unless every partition still starts at offset 0.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from core.kafka import watermarks
from core.reading import partitions, reader
from core.settings import Settings
from features.registry import FEATURE_NAMES, REACH_MS
from models.history import labelled_history
from models.retrain.source import from_topics, read_values

ALL_DAYS = 100_000  # labelled_history over every event the topics hold
Tick = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Mismatch:
    event_id: str
    feature: str
    served: float
    recomputed: float


@dataclass
class AuditReport:
    served: int = 0  # sampled events read back
    eligible: int = 0  # of those, events whose whole history the topics hold
    checked: int = 0
    mismatched_events: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    by_feature: dict[str, int] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return self.checked > 0 and self.mismatched_events == 0


def audit(
    settings: Settings,
    *,
    sample: int,
    seed: int = 0,
    atol: float = 1e-6,
    tick: Tick | None = None,
) -> AuditReport:
    """Compare ``sample`` random served events' features with their recomputation."""
    report = AuditReport()
    served: dict[str, dict[str, float]] = {}
    for value in read_values(settings, settings.topic_samples, tick):
        doc = json.loads(value or b"{}")
        if "event_id" in doc and isinstance(doc.get("features"), dict):
            served.setdefault(doc["event_id"], doc["features"])  # a redelivery is the same
    report.served = len(served)
    if not served:
        return report
    history = labelled_history(from_topics(settings, tick), days=ALL_DAYS)
    frame = history.frame
    times = frame["TX_DATETIME"].to_numpy(dtype="datetime64[ms]").astype(np.int64)
    whole = _from_offset_zero(settings)
    row_of = {
        eid: i
        for i, eid in enumerate(frame["TRANSACTION_ID"])
        if eid in served and (whole or times[i] >= times.min() + REACH_MS)
    }
    report.eligible = len(row_of)
    chosen = sorted(row_of)
    chosen = random.Random(seed).sample(chosen, min(sample, len(chosen)))
    names = list(FEATURE_NAMES)
    for eid in chosen:
        want = history.features[row_of[eid]]
        got = np.array([float(served[eid].get(n, np.nan)) for n in names])
        off = ~np.isclose(got, want, rtol=1e-9, atol=atol)
        if off.any():
            report.mismatched_events += 1
            for j in np.flatnonzero(off):
                report.by_feature[names[j]] = report.by_feature.get(names[j], 0) + 1
                report.mismatches.append(Mismatch(eid, names[j], float(got[j]), float(want[j])))
    report.checked = len(chosen)
    return report


def _from_offset_zero(settings: Settings) -> bool:
    consumer = reader(settings, "fraudscore-state-audit", quiet=True)
    try:
        parts = partitions(consumer, settings.topic_transactions)
        return all(watermarks(consumer, tp)[0] == 0 for tp in parts)
    finally:
        consumer.close()
