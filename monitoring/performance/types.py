"""Our vocabulary for live model performance: a day's numbers, a window's, the alarm event.

Plain frozen pydantic models with no pandas or scikit-learn import, so the index page, the
drift sidecar, the schema export and any reader of ``performance.json`` or ``fraud.drift`` load
them cheaply (``monitoring.performance.table`` computes them and imports the heavy libraries).

Counts and ratios are stored side by side: the counts let windows be pooled exactly
(``WindowPerformance.of``), the ratios are what people and gauges read. A ratio whose
denominator is zero (no alert that day, no fraud yet) is None, never 0.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

log = logging.getLogger(__name__)

AlarmMetric = Literal["precision", "recall", "cp_at_k"]
AlarmStatus = Literal["degraded", "ok"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Counts(_Frozen):
    """Counts of one model version over one day or a window, and the ratios derived from them.

    Event level: an alert is a scored event with ``alerted``; a fraud is an event whose newest
    label says fraud (no label yet = legitimate). Card-day level (the unit of the bundle's
    expected precision/recall, ``models.thresholds``): a card-day is alerted when any of the
    card's events that day was, and fraudulent when any was labelled fraud.
    """

    scored: int
    labelled: int
    frauds: int
    alerts: int
    alerted_frauds: int
    card_days: int
    card_alerts: int
    card_alert_frauds: int
    fraud_cards: int
    precision: float | None  # alerted_frauds / alerts
    recall: float | None  # alerted_frauds / frauds
    card_precision: float | None  # card_alert_frauds / card_alerts
    card_recall: float | None  # card_alert_frauds / fraud_cards
    alert_rate: float | None  # alerts / scored
    label_coverage: float | None  # labelled / scored
    average_precision: float | None  # event level, None without a fraud
    cp_at_k: float | None  # card precision@k (a window: the mean of its days)
    k: int
    label_delay_days: float


class DayPerformance(Counts):
    """One model version on one UTC event day.

    ``complete`` once the newest label_time seen is at least ``final_at`` (the day's end plus
    the label delay): from then on an unlabelled event counts as legitimate for good and the
    numbers only move if a label arrives later than the delay promised.
    """

    model_version: str
    day: date
    complete: bool
    final_at: datetime


class WindowPerformance(Counts):
    """Several days of one model version pooled: ratios of summed counts; AP and CP@k means."""

    model_version: str
    first_day: date
    last_day: date
    days: int
    complete: bool

    @classmethod
    def of(cls, rows: Sequence[DayPerformance]) -> WindowPerformance:
        """Pool ``rows`` (days of one model version, at least one)."""
        if not rows:
            raise ValueError("a window needs at least one day")
        total = _sums(rows)
        return cls(
            **total,
            **ratios(total),
            average_precision=_mean([r.average_precision for r in rows]),
            cp_at_k=_mean([r.cp_at_k for r in rows]),
            k=rows[0].k,
            label_delay_days=rows[0].label_delay_days,
            model_version=rows[0].model_version,
            first_day=min(r.day for r in rows),
            last_day=max(r.day for r in rows),
            days=len(rows),
            complete=all(r.complete for r in rows),
        )


class PerformanceSnapshot(_Frozen):
    """What ``fraudscore perf run`` last computed; written as ``performance.json`` for the index."""

    generated_at: datetime
    labels_as_of: datetime | None
    label_delay_days: float
    k: int
    rolling_days: int
    rows: tuple[DayPerformance, ...]
    alarms: dict[str, AlarmStatus]  # model version -> status of the degradation alarm
    alarm_metric: AlarmMetric | None


class PerformanceAlarm(_Frozen):
    """What ``fraudscore perf run`` publishes on ``fraud.drift`` when a degradation alarm changes.

    Keyed by model version, next to the drift sidecar's ``drift_status_changed`` events (tell
    them apart by ``event``). ``status`` "degraded": ``observed`` fell more than ``margin`` below
    the bundle's ``expected`` value over the complete days ``first_day`` .. ``last_day``; "ok":
    it is back above ``floor``. ``previous_status`` is None for the first evaluation ever.
    Precision and recall are card-day values, the unit the bundle's expectation was measured in.
    """

    event: Literal["performance_alarm_changed"] = "performance_alarm_changed"
    model_version: str
    status: AlarmStatus
    previous_status: AlarmStatus | None
    metric: AlarmMetric
    observed: float
    expected: float
    margin: float
    floor: float
    first_day: date
    last_day: date
    days: int
    k: int
    label_delay_days: float
    labels_as_of: datetime
    created_at: datetime


_COUNT_FIELDS = (
    "scored",
    "labelled",
    "frauds",
    "alerts",
    "alerted_frauds",
    "card_days",
    "card_alerts",
    "card_alert_frauds",
    "fraud_cards",
)


def ratios(c: dict[str, int]) -> dict[str, float | None]:
    """The ratio fields of ``Counts`` from its count fields (None for a zero denominator)."""
    return {
        "precision": _div(c["alerted_frauds"], c["alerts"]),
        "recall": _div(c["alerted_frauds"], c["frauds"]),
        "card_precision": _div(c["card_alert_frauds"], c["card_alerts"]),
        "card_recall": _div(c["card_alert_frauds"], c["fraud_cards"]),
        "alert_rate": _div(c["alerts"], c["scored"]),
        "label_coverage": _div(c["labelled"], c["scored"]),
    }


def _sums(rows: Sequence[Counts]) -> dict[str, int]:
    return {f: sum(int(getattr(r, f)) for r in rows) for f in _COUNT_FIELDS}


def _div(num: int, den: int) -> float | None:
    return num / den if den else None


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def versions(rows: Sequence[DayPerformance]) -> list[str]:
    """Model versions in ``rows``, sorted."""
    return sorted({r.model_version for r in rows})


def complete_days(rows: Sequence[DayPerformance], version: str) -> list[DayPerformance]:
    """The complete days of ``version``, oldest first."""
    return sorted((r for r in rows if r.model_version == version and r.complete), key=_day)


def rolling(rows: Sequence[DayPerformance], version: str, days: int) -> WindowPerformance | None:
    """The newest ``days`` complete days of ``version`` pooled; None before its first one.

    Fewer days are pooled while fewer are complete (``.days`` says how many).
    """
    done = complete_days(rows, version)[-days:]
    return WindowPerformance.of(done) if done else None


def _day(row: DayPerformance) -> date:
    return row.day


SNAPSHOT_NAME = "performance.json"


def write_snapshot(reports_dir: Path, snapshot: PerformanceSnapshot) -> Path:
    """Write ``performance.json`` atomically (temporary name unique to this process, rename)."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    path = reports_dir / SNAPSHOT_NAME
    tmp = path.with_name(f".{SNAPSHOT_NAME}.{os.getpid()}.tmp")
    tmp.write_text(snapshot.model_dump_json(indent=2), encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_snapshot(reports_dir: Path) -> PerformanceSnapshot | None:
    """The last ``performance.json`` of ``reports_dir``; None when absent or unreadable."""
    path = reports_dir / SNAPSHOT_NAME
    try:
        return PerformanceSnapshot.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValidationError) as exc:
        log.warning("ignoring unreadable %s: %s", path, exc)
        return None
