"""Live model performance from delayed labels: the pure core (no Kafka, no SQLite, no clock).

Score records (``fraud.scores``) and labels (``fraud.labels``) are joined by event id and
grouped by model version and UTC day of the EVENT, never of arrival, so the same input stream
always gives the same table however fast or in which order it was read.

Merge rules, the same here (``PerformanceBook``) and in the durable ``PerformanceStore``, so a
replayed record of either topic changes nothing:

1. a score record: the first one seen for an event id wins (an at-least-once replay carries the
   same decision, and the first is the one the analysts acted on);
2. a label: the newest ``label_time`` wins, fraud winning a tie (order-independent), so an
   analyst's "legit" overridden by a later chargeback ends as fraud;
3. the label watermark is the newest ``label_time`` ever seen: the event-time clock of labels.

An event without a label counts as legitimate, the convention of the benchmark and of
``fraudscore models compare``: chargebacks and the simulator label frauds only. That is only
true once the labels are in, so a day is ``complete`` when the watermark has passed its end plus
the label delay (``final_at``); before that its precision is a lower bound and its recall is
provisional. ``label_coverage`` is the share of the day's scored events that have any label yet.

Per (version, day), reusing ``models.metrics`` rather than rewriting it: event-level precision,
recall, alert rate and average precision; card-day precision and recall (what the bundle's
expected operating point is measured in); card precision@k with that one day's top-k cards
(``card_precision_at_k`` on the day alone, so no cross-day removal of cards found earlier).

API for tests and notebooks: ``performance_table(scores, labels, k=, label_delay=)``, or a
``PerformanceBook`` fed incrementally; the store calls ``day_performance`` per group.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from core.messages import LabelEvent, ScoreRecord
from models.metrics import average_precision, card_days, card_precision_at_k
from monitoring.performance.types import DayPerformance, ratios

__all__ = [
    "EVENT_COLUMNS",
    "PerformanceBook",
    "day_of",
    "day_performance",
    "final_at",
    "is_complete",
    "label_wins",
    "performance_table",
    "to_ms",
]

DAY = timedelta(days=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EVENT_COLUMNS = ("customer_id", "event_ms", "score", "alerted", "labelled", "fraud")
"""Columns of the frame ``day_performance`` reads: one row per scored event of the group."""


def to_ms(when: datetime) -> int:
    """Milliseconds since the epoch, exactly (a naive datetime is UTC, as in the features)."""
    aware = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return (aware - _EPOCH) // timedelta(milliseconds=1)


def day_of(ms: int) -> date:
    """UTC calendar day of an epoch-milliseconds time (the day of ``models.metrics``)."""
    return _EPOCH.date() + timedelta(days=ms // 86_400_000)


def final_at(day: date, label_delay: timedelta) -> datetime:
    """When (in label time) the labels of ``day`` are all due: its end plus the label delay."""
    return datetime.combine(day, datetime.min.time(), UTC) + DAY + label_delay


def is_complete(day: date, watermark: datetime | None, label_delay: timedelta) -> bool:
    """Whether the newest label_time seen has reached ``final_at(day)``."""
    return watermark is not None and watermark >= final_at(day, label_delay)


def label_wins(new: LabelEvent, old: LabelEvent) -> bool:
    """Merge rule 2: the newer label wins, fraud winning a tie."""
    return (new.label_time, new.is_fraud) > (old.label_time, old.is_fraud)


def day_performance(
    version: str,
    day: date,
    events: pd.DataFrame,
    *,
    k: int,
    label_delay: timedelta,
    watermark: datetime | None,
) -> DayPerformance:
    """The numbers of one (version, day) from its events (``EVENT_COLUMNS``, at least one row)."""
    alerted = events["alerted"].to_numpy(dtype=np.bool_)
    fraud = events["fraud"].to_numpy(dtype=np.bool_)
    scores = events["score"].to_numpy(dtype=np.float64)
    frame = pd.DataFrame(
        {
            "customer_id": events["customer_id"].to_numpy(),
            "event_time": pd.to_datetime(events["event_ms"].to_numpy(dtype=np.int64), unit="ms"),
            "fraud": fraud.astype(np.int64),
        }
    )
    cols = {"card_col": "customer_id", "time_col": "event_time", "label_col": "fraud"}
    cards = card_days(frame, alerted.astype(np.float64), **cols)
    card_alerted = cards["score"].to_numpy() > 0
    card_fraud = cards["label"].to_numpy() > 0
    counts = {
        "scored": len(events),
        "labelled": int(events["labelled"].to_numpy(dtype=np.bool_).sum()),
        "frauds": int(fraud.sum()),
        "alerts": int(alerted.sum()),
        "alerted_frauds": int((alerted & fraud).sum()),
        "card_days": len(cards),
        "card_alerts": int(card_alerted.sum()),
        "card_alert_frauds": int((card_alerted & card_fraud).sum()),
        "fraud_cards": int(card_fraud.sum()),
    }
    cp = card_precision_at_k(
        frame, scores, k, card_col="customer_id", time_col="event_time", label_col="fraud"
    ).per_day
    return DayPerformance(
        **counts,
        **ratios(counts),
        average_precision=_finite(average_precision(fraud, scores)),
        cp_at_k=cp[0] if cp else None,
        k=k,
        label_delay_days=label_delay / DAY,
        model_version=version,
        day=day,
        complete=is_complete(day, watermark, label_delay),
        final_at=final_at(day, label_delay),
    )


class PerformanceBook:
    """Score records and labels accumulated in memory under the merge rules (module docstring)."""

    def __init__(self) -> None:
        self._scores: dict[str, ScoreRecord] = {}
        self._labels: dict[str, LabelEvent] = {}
        self.watermark: datetime | None = None

    def add_scores(self, records: Iterable[ScoreRecord]) -> None:
        for record in records:
            self._scores.setdefault(record.event_id, record)

    def add_labels(self, labels: Iterable[LabelEvent]) -> None:
        for label in labels:
            old = self._labels.get(label.event_id)
            if old is None or label_wins(label, old):
                self._labels[label.event_id] = label
            if self.watermark is None or label.label_time > self.watermark:
                self.watermark = label.label_time

    def table(self, *, k: int = 100, label_delay: timedelta = 7 * DAY) -> list[DayPerformance]:
        """One row per (model version, event day) with scored events, by day then version."""
        groups: dict[tuple[str, date], list[tuple[object, ...]]] = {}
        for record in self._scores.values():
            label = self._labels.get(record.event_id)
            ms = to_ms(record.event_time)
            fraud = label is not None and label.is_fraud
            row = (record.customer_id, ms, record.score, record.alerted, label is not None, fraud)
            groups.setdefault((record.model_version, day_of(ms)), []).append(row)
        out = [
            day_performance(
                version,
                day,
                pd.DataFrame(rows, columns=list(EVENT_COLUMNS)),
                k=k,
                label_delay=label_delay,
                watermark=self.watermark,
            )
            for (version, day), rows in groups.items()
        ]
        return sorted(out, key=lambda r: (r.day, r.model_version))


def performance_table(
    scores: Iterable[ScoreRecord],
    labels: Iterable[LabelEvent],
    *,
    k: int = 100,
    label_delay: timedelta = 7 * DAY,
) -> list[DayPerformance]:
    """The per-(version, day) table of a stream of score records and labels (any order)."""
    book = PerformanceBook()
    book.add_scores(scores)
    book.add_labels(labels)
    return book.table(k=k, label_delay=label_delay)


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else value
