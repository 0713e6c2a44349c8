"""One evaluation of the performance monitor, without Kafka: table, files, gauges, alarm.

Separate from the loop (``monitoring.performance.run``) so it can be driven directly: the loop
calls ``Evaluator.run`` on its schedule with a ``publish`` that produces to ``fraud.drift``;
tests and notebooks pass a list's ``append``.

Per run: prune the store to its retention (event time); recompute the days that changed;
set the gauges; for each model version with a label clock, evaluate the alarm rule against the
bundle's expected value (or ``FRAUDSCORE_PERF_ALARM_EXPECTED``), publish a transition, log its
line, then store the verdict; finally write ``performance.json`` and rebuild ``index.html``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import cast

from core.settings import Settings
from monitoring.errors import MonitoringError
from monitoring.index_page import write_index
from monitoring.metrics import PerformanceMetrics
from monitoring.performance.alarm import (
    AlarmRule,
    ExpectedLoader,
    alarm_event,
    describe,
    evaluate_alarm,
)
from monitoring.performance.store import PerformanceStore
from monitoring.performance.types import (
    AlarmMetric,
    AlarmStatus,
    DayPerformance,
    PerformanceAlarm,
    PerformanceSnapshot,
    versions,
    write_snapshot,
)

log = logging.getLogger(__name__)


def alarm_rule(settings: Settings) -> AlarmRule | None:
    """The degradation rule of ``settings``; None when the alarm is off."""
    if not settings.perf_alarm_enabled:
        return None
    metric = cast(AlarmMetric, settings.perf_alarm_metric)  # the field's pattern checked it
    return AlarmRule(metric, settings.perf_alarm_days, settings.perf_alarm_margin)


def open_store(settings: Settings, *, readonly: bool = False) -> PerformanceStore:
    """The store of ``settings.perf_db`` with the settings' k and label delay."""
    return PerformanceStore(
        settings.perf_db,
        k=settings.perf_budget_cards,
        label_delay=timedelta(days=settings.perf_label_delay_days),
        readonly=readonly,
    )


def check_retention(settings: Settings) -> None:
    """Fail at startup when a day would be pruned before it can be complete and evaluated."""
    needed = math.ceil(settings.perf_label_delay_days) + 1
    needed += max(settings.perf_alarm_days, settings.perf_rolling_days)
    if settings.perf_retention_days < needed:
        raise MonitoringError(
            f"FRAUDSCORE_PERF_RETENTION_DAYS={settings.perf_retention_days} is too short: "
            f"keep at least {needed} days (label delay + 1 + alarm or rolling days)"
        )


def snapshot(
    store: PerformanceStore,
    settings: Settings,
    rule: AlarmRule | None,
    *,
    rows: list[DayPerformance] | None = None,
    now: datetime | None = None,
) -> PerformanceSnapshot:
    """The store's table (``rows`` if already computed) with the stored alarm verdicts."""
    rows = store.table() if rows is None else rows
    statuses = store.alarm_statuses(rule.metric) if rule else {}
    present = set(versions(rows))
    return PerformanceSnapshot(
        generated_at=now or datetime.now(UTC),
        labels_as_of=store.watermark,
        label_delay_days=settings.perf_label_delay_days,
        k=settings.perf_budget_cards,
        rolling_days=settings.perf_rolling_days,
        rows=tuple(rows),
        alarms={v: st for v, st in statuses.items() if v in present},
        alarm_metric=rule.metric if rule else None,
    )


@dataclass
class Evaluator:
    """Step 4 of the loop, without Kafka: ``publish`` is injected (tests pass a list's append)."""

    store: PerformanceStore
    settings: Settings
    metrics: PerformanceMetrics
    expected_loader: ExpectedLoader
    publish: Callable[[PerformanceAlarm], None]
    _unexpected: set[str] = field(default_factory=set)  # versions warned about: no expectation

    def run(self, now: datetime | None = None) -> list[PerformanceAlarm]:
        """Prune, recompute, write, publish; returns the alarm events published."""
        s, rule = self.settings, alarm_rule(self.settings)
        self.store.prune(s.perf_retention_days)
        rows, watermark = self.store.table(), self.store.watermark
        self.metrics.publish_table(rows, s.perf_rolling_days)
        self.metrics.set_labels_as_of(watermark)
        created = now or datetime.now(UTC)
        events: list[PerformanceAlarm] = []
        statuses = self.store.alarm_statuses(rule.metric) if rule else {}
        if rule is not None and watermark is not None:
            for version in versions(rows):
                event = self._check(rows, version, rule, statuses, watermark, created)
                if event is not None:
                    events.append(event)
        snap = snapshot(self.store, s, rule, rows=rows, now=created)
        write_snapshot(s.reports_dir, snap)
        write_index(s.reports_dir)
        return events

    def _check(
        self,
        rows: list[DayPerformance],
        version: str,
        rule: AlarmRule,
        statuses: dict[str, AlarmStatus],
        watermark: datetime,
        created: datetime,
    ) -> PerformanceAlarm | None:
        value = self.settings.perf_alarm_expected
        if value is None:
            expected = self.expected_loader(version)
            value = expected.value(rule.metric) if expected is not None else None
        check = evaluate_alarm(rows, version, rule, value)
        if check.reason == "no expected value" and version not in self._unexpected:
            self._unexpected.add(version)
            log.warning(
                "no expected %s for model %s (bundle missing or silent): its alarm is off; "
                "set FRAUDSCORE_PERF_ALARM_EXPECTED to give one",
                rule.metric,
                version,
            )
        previous = statuses.get(version)
        event = alarm_event(check, previous, labels_as_of=watermark, created_at=created)
        if event is not None:
            self.publish(event)
            (log.warning if event.status == "degraded" else log.info)("%s", describe(event))
        if check.status is not None and check.status != previous:
            self.store.set_alarm_status(version, rule.metric, check.status)
            statuses[version] = check.status
        if version in statuses:
            self.metrics.set_alarm(version, rule.metric, statuses[version])
        return event
