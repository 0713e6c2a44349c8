"""Prometheus gauges of the drift sidecar, set from a ``DriftSummary``.

Why a class over a registry passed in: prometheus_client's default registry is process-global,
so two sidecars in one test process (or a test and a worker) would collide on metric names. Each
``DriftMetrics`` owns its series in the ``CollectorRegistry`` it is given.

Summary gauges carry a ``model_version`` label: during a rolling deploy two versions are scored
at once and each has its own window, so without the label their reports would overwrite each
other's numbers. ``forget_version`` removes a version's series when its window is dropped, which
keeps the label's cardinality bounded.
"""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge

from monitoring.summary import DriftSummary

PREFIX = "fraudscore_drift"


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
