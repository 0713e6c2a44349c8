"""Prometheus gauges of the drift sidecar (from a ``DriftSummary``) and of the performance monitor.

Why a class over a registry passed in: prometheus_client's default registry is process-global,
so two sidecars in one test process (or a test and a worker) would collide on metric names. Each
``DriftMetrics`` owns its series in the ``CollectorRegistry`` it is given.

Summary gauges carry a ``model_version`` label: during a rolling deploy two versions are scored
at once and each has its own window, so without the label their reports would overwrite each
other's numbers. ``forget_version`` removes a version's series when its window is dropped, which
keeps the label's cardinality bounded.

``PerformanceMetrics`` (``fraudscore perf run``) has one gauge per metric of live performance,
labelled by model version and ``window``: ``last_complete_day`` or ``rolling_<N>d`` (the newest
N complete days pooled). Only complete days are published, so a gauge never shows a number that
is still moving with late labels; versions pruned from the store lose their series.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Gauge

from monitoring.drift.summary import DriftSummary
from monitoring.performance.types import (
    AlarmMetric,
    AlarmStatus,
    Counts,
    DayPerformance,
    complete_days,
    rolling,
    versions,
)

PREFIX = "fraudscore_drift"
PERF_PREFIX = "fraudscore_perf"
_VERSION_WINDOW = ["model_version", "window"]
PERF_GAUGES = {
    "precision": "Alerts labelled fraud / alerts (event level)",
    "recall": "Labelled frauds that were alerted / labelled frauds (event level)",
    "card_precision": "Alerted card-days with a fraud / alerted card-days",
    "card_recall": "Alerted card-days with a fraud / card-days with a fraud",
    "average_precision": "Average precision of the score against the labels (event level)",
    "cp_at_k": "Card precision@k: frauds among the day's k best-scored cards / k",
    "alert_rate": "Alerts / scored events",
    "label_coverage": "Scored events with a label / scored events",
}


class DriftMetrics:
    """The sidecar's series; ``publish_summary`` sets them from one report."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        v, vf = ["model_version"], ["model_version", "feature"]
        self.feature_score = Gauge(
            f"{PREFIX}_feature_score",
            "Drift score of a feature (its method's p-value or distance)",
            vf,
            registry=registry,
        )
        self.feature_drifted = Gauge(
            f"{PREFIX}_feature_drifted",
            "1 when the feature drifted in the last report",
            vf,
            registry=registry,
        )
        self.share_drifted = Gauge(
            f"{PREFIX}_share_drifted", "Share of features that drifted", v, registry=registry
        )
        self.dataset_drift = Gauge(
            f"{PREFIX}_dataset_drift",
            "1 when the share of drifted features reached the dataset threshold",
            v,
            registry=registry,
        )
        self.score_drifted = Gauge(
            f"{PREFIX}_score_drifted",
            "1 when the model score (prediction) drifted",
            v,
            registry=registry,
        )
        self.score_psi = Gauge(
            f"{PREFIX}_score_psi",
            "Population stability index of the model score",
            v,
            registry=registry,
        )
        self.missing_values = Gauge(
            f"{PREFIX}_missing_values",
            "Missing values of a feature in the last window",
            vf,
            registry=registry,
        )
        self.window_samples = Gauge(
            f"{PREFIX}_window_samples", "Samples in the rolling window", v, registry=registry
        )
        self.last_run_timestamp = Gauge(
            f"{PREFIX}_last_run_timestamp_seconds",
            "Unix time of the last report",
            v,
            registry=registry,
        )
        self.last_run_duration = Gauge(
            f"{PREFIX}_last_run_duration_seconds",
            "Seconds the last drift computation took",
            v,
            registry=registry,
        )
        self.samples_dropped = Counter(
            f"{PREFIX}_samples_dropped",
            "Samples not added to a window, by reason",
            ["reason"],
            registry=registry,
        )
        self.reports = Counter(f"{PREFIX}_reports", "Drift reports written", v, registry=registry)
        self._features: dict[str, set[str]] = {}  # version -> feature labels set, for removal

    def publish_summary(self, summary: DriftSummary) -> None:
        """Set every summary gauge of ``summary.model_version`` from one report."""
        v = summary.model_version
        self._features.setdefault(v, set()).update(summary.missing)
        for col in summary.columns:
            self.feature_score.labels(v, col.name).set(col.score)
            self.feature_drifted.labels(v, col.name).set(float(col.drifted))
        for name, count in summary.missing.items():
            self.missing_values.labels(v, name).set(count)
        self.share_drifted.labels(v).set(summary.share_drifted)
        self.dataset_drift.labels(v).set(float(summary.dataset_drift))
        self.score_drifted.labels(v).set(float(summary.score_drift.drifted))
        self.score_psi.labels(v).set(summary.score_psi)
        self.last_run_timestamp.labels(v).set(summary.created_at.timestamp())
        self.last_run_duration.labels(v).set(summary.duration_s)
        self.reports.labels(v).inc()

    def set_window(self, model_version: str, samples: int) -> None:
        self._features.setdefault(model_version, set())
        self.window_samples.labels(model_version).set(samples)

    def drop(self, reason: str, n: int = 1) -> None:
        self.samples_dropped.labels(reason).inc(n)

    def forget_version(self, model_version: str) -> None:
        """Remove every series of ``model_version`` (its window was evicted)."""
        features = self._features.pop(model_version, None)
        if features is None:
            return
        for metric in (self.feature_score, self.feature_drifted, self.missing_values):
            for feature in features:
                _remove(metric, model_version, feature)
        per_version: tuple[Gauge | Counter, ...] = (
            self.share_drifted,
            self.dataset_drift,
            self.score_drifted,
            self.score_psi,
            self.window_samples,
            self.last_run_timestamp,
            self.last_run_duration,
            self.reports,
        )
        for series in per_version:
            _remove(series, model_version)


def publish_summary(metrics: DriftMetrics, summary: DriftSummary) -> None:
    """Function form of ``DriftMetrics.publish_summary`` for callers that hold the metrics."""
    metrics.publish_summary(summary)


def _remove(metric: Gauge | Counter, *labels: str) -> None:
    # Older prometheus_client raises KeyError for a label set that was never set.
    with contextlib.suppress(KeyError):
        metric.remove(*labels)


class PerformanceMetrics:
    """The performance monitor's series; ``publish_table`` sets them from the per-day table."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.gauges = {
            name: Gauge(f"{PERF_PREFIX}_{name}", text, _VERSION_WINDOW, registry=registry)
            for name, text in PERF_GAUGES.items()
        }
        self.alarm = Gauge(
            f"{PERF_PREFIX}_alarm",
            "1 while the degradation alarm of a model version is raised, 0 once it is ok",
            ["model_version", "metric"],
            registry=registry,
        )
        self.last_complete_day = Gauge(
            f"{PERF_PREFIX}_last_complete_day_timestamp_seconds",
            "Start (UTC) of the newest event day whose labels are all due",
            ["model_version"],
            registry=registry,
        )
        self.labels_as_of = Gauge(
            f"{PERF_PREFIX}_labels_as_of_timestamp_seconds",
            "Newest label_time seen: the clock that completes days",
            registry=registry,
        )
        self.records = Counter(
            f"{PERF_PREFIX}_records", "Records stored, by kind", ["kind"], registry=registry
        )
        self.dropped = Counter(
            f"{PERF_PREFIX}_records_dropped",
            "Records skipped, by reason",
            ["reason"],
            registry=registry,
        )
        self._windows: dict[str, set[str]] = {}  # version -> window labels set

    def publish_table(self, rows: Sequence[DayPerformance], rolling_days: int) -> None:
        """Set every gauge from the table; forget versions that left it."""
        seen = set(versions(rows))
        for version in seen:
            done = complete_days(rows, version)
            if not done:
                continue
            window = rolling(rows, version, rolling_days)
            assert window is not None
            self._set(version, "last_complete_day", done[-1])
            self._set(version, f"rolling_{rolling_days}d", window)
            start = datetime.combine(done[-1].day, datetime.min.time(), UTC)
            self.last_complete_day.labels(version).set(start.timestamp())
        for version in set(self._windows) - seen:
            self.forget_version(version)

    def set_labels_as_of(self, when: datetime | None) -> None:
        if when is not None:
            self.labels_as_of.set(when.timestamp())

    def set_alarm(self, version: str, metric: AlarmMetric, status: AlarmStatus) -> None:
        self._windows.setdefault(version, set())
        self.alarm.labels(version, metric).set(1.0 if status == "degraded" else 0.0)

    def forget_version(self, version: str) -> None:
        for window in self._windows.pop(version, set()):
            for gauge in self.gauges.values():
                _remove(gauge, version, window)
        _remove(self.last_complete_day, version)
        for metric in ("precision", "recall", "cp_at_k"):
            _remove(self.alarm, version, metric)

    def _set(self, version: str, window: str, row: Counts) -> None:
        self._windows.setdefault(version, set()).add(window)
        for name, gauge in self.gauges.items():
            value = getattr(row, name)
            gauge.labels(version, window).set(math.nan if value is None else float(value))
