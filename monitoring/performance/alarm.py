"""The degradation alarm: live performance against the bundle's expected operating point.

Rule (settings ``perf_alarm_*``): the newest ``days`` COMPLETE days of a model version are
pooled (``WindowPerformance.of``) and the chosen metric is compared with what the bundle
expects. The verdict is "degraded" when ``observed < expected - margin`` and "ok" otherwise.
There is no verdict (the stored state is kept) while fewer than ``days`` days are complete, the
bundle states no expected value, or the metric is undefined over the window (no alert, no fraud).

What the bundle expects, read from its JSON files (the path convention is all this package
shares with ``models/``; nothing in the bundle format changed):

- precision, recall: ``metadata.json`` ``thresholds.review.precision`` / ``.recall``, measured
  on the labelled block where the review threshold was chosen, per CARD-DAY
  (``models.thresholds.stats_at``). The alarm therefore compares the live card-day precision
  and recall, the same unit; the event-level numbers of the table are not comparable with it.
- cp_at_k: ``metrics.json`` ``card_precision_at_100`` (test-week mean), only when k is 100:
  the bundle stores no other k.

``perf_alarm_expected`` replaces the bundle's value (e.g. for k != 100, or an agreed target).

Transitions (``alarm_event``): an event only when the verdict differs from the stored one. A
first verdict "ok" is stored silently; a first "degraded" is announced. So a restarted monitor
that finds the same verdict says nothing, and a degradation is announced once and cleared once.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from monitoring.performance.types import (
    AlarmMetric,
    AlarmStatus,
    DayPerformance,
    PerformanceAlarm,
    WindowPerformance,
    complete_days,
)

log = logging.getLogger(__name__)

_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_LIVE_NAME = {"precision": "card-day precision", "recall": "card-day recall", "cp_at_k": "CP@k"}


@dataclass(frozen=True, slots=True)
class AlarmRule:
    """Which metric, over how many complete days, how far below expected is degraded."""

    metric: AlarmMetric = "precision"
    days: int = 3
    margin: float = 0.1


@dataclass(frozen=True, slots=True)
class Expected:
    """A bundle's expected operating point (None where it states nothing usable)."""

    precision: float | None
    recall: float | None
    cp_at_k: float | None

    def value(self, metric: AlarmMetric) -> float | None:
        return {"precision": self.precision, "recall": self.recall, "cp_at_k": self.cp_at_k}[metric]


ExpectedLoader = Callable[[str], Expected | None]


@dataclass(frozen=True, slots=True)
class AlarmCheck:
    """One evaluation of the rule for one model version."""

    model_version: str
    rule: AlarmRule
    status: AlarmStatus | None  # None: no verdict (see ``reason``)
    observed: float | None
    expected: float | None
    window: WindowPerformance | None
    reason: str = ""

    @property
    def floor(self) -> float | None:
        return None if self.expected is None else self.expected - self.rule.margin


def expected_from_bundle(
    metadata: Mapping[str, Any], metrics: Mapping[str, Any], k: int
) -> Expected:
    """The expected operating point stated by a bundle's ``metadata.json`` and ``metrics.json``."""
    review = metadata.get("thresholds", {}).get("review", {})
    cp = metrics.get("card_precision_at_100") if k == 100 else None
    return Expected(_number(review.get("precision")), _number(review.get("recall")), _number(cp))


def bundle_expected_loader(
    model_dir: Path, k: int, override: float | None = None
) -> ExpectedLoader:
    """Expected values of ``<model_dir>/bundles/<version>/``; ``override`` replaces all of them.

    The version comes from Kafka: anything that is not a plain version name is refused.
    """

    def load(version: str) -> Expected | None:
        if override is not None:
            return Expected(override, override, override)
        folder = model_dir / "bundles" / version
        if not _VERSION.match(version) or ".." in version or not folder.is_dir():
            return None
        try:
            meta = json.loads((folder / "metadata.json").read_text())
            metrics_path = folder / "metrics.json"
            metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
        except (OSError, ValueError) as exc:
            log.warning("cannot read the expected performance of model %s: %s", version, exc)
            return None
        if not isinstance(meta, dict) or not isinstance(metrics, dict):
            return None
        return expected_from_bundle(meta, metrics, k)

    return load


def evaluate_alarm(
    rows: Sequence[DayPerformance], version: str, rule: AlarmRule, expected: float | None
) -> AlarmCheck:
    """The rule's verdict for ``version`` on the table ``rows``."""
    days = complete_days(rows, version)[-rule.days :]
    if len(days) < rule.days:
        return AlarmCheck(
            version, rule, None, None, expected, None, f"{len(days)}/{rule.days} days complete"
        )
    window = WindowPerformance.of(days)
    observed = {
        "precision": window.card_precision,
        "recall": window.card_recall,
        "cp_at_k": window.cp_at_k,
    }[rule.metric]
    if expected is None:
        return AlarmCheck(version, rule, None, observed, None, window, "no expected value")
    if observed is None:
        return AlarmCheck(version, rule, None, None, expected, window, "metric undefined")
    status: AlarmStatus = "degraded" if observed < expected - rule.margin else "ok"
    return AlarmCheck(version, rule, status, observed, expected, window)


def alarm_event(
    check: AlarmCheck,
    previous: AlarmStatus | None,
    *,
    labels_as_of: datetime,
    created_at: datetime,
) -> PerformanceAlarm | None:
    """The event announcing ``check``'s verdict, or None when there is nothing to announce."""
    if check.status is None or check.status == previous:
        return None
    if previous is None and check.status == "ok":
        return None
    w, observed, expected, floor = check.window, check.observed, check.expected, check.floor
    assert w is not None and observed is not None and expected is not None and floor is not None
    return PerformanceAlarm(
        model_version=check.model_version,
        status=check.status,
        previous_status=previous,
        metric=check.rule.metric,
        observed=observed,
        expected=expected,
        margin=check.rule.margin,
        floor=floor,
        first_day=w.first_day,
        last_day=w.last_day,
        days=w.days,
        k=w.k,
        label_delay_days=w.label_delay_days,
        labels_as_of=labels_as_of,
        created_at=created_at,
    )


def describe(event: PerformanceAlarm) -> str:
    """The one log line of a transition: what, by how much, over which days."""
    name = _LIVE_NAME[event.metric]
    if event.status == "degraded":
        verdict = f"degraded to {event.observed:.3f}, {event.expected - event.observed:.3f} below"
    else:
        verdict = f"recovered to {event.observed:.3f}, no longer {event.margin:.3f} below"
    return (
        f"model {event.model_version}: {name} {verdict} the expected {event.expected:.3f} "
        f"(alarm below {event.floor:.3f}) over {event.first_day}..{event.last_day} "
        f"({event.days} complete day(s), label delay {event.label_delay_days:g} d)"
    )


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if number == number else None  # NaN states nothing
