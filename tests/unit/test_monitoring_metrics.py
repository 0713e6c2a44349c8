"""Gauges after publish_summary, in a registry of their own."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from monitoring.drift.summary import ColumnDrift, DriftSummary
from monitoring.metrics import DriftMetrics, publish_summary


def summary(version: str = "v1") -> DriftSummary:
    cols = (
        ColumnDrift(name="amount", method="K-S p_value", score=0.001, threshold=0.05, drifted=True),
        ColumnDrift(
            name="is_night", method="Z-test p_value", score=0.6, threshold=0.05, drifted=False
        ),
    )
    return DriftSummary(
        model_version=version,
        window_start=None,
        window_end=None,
        n_current=500,
        n_reference=1000,
        columns=cols,
        drifted_columns=("amount",),
        share_drifted=0.5,
        drift_share=0.5,
        dataset_drift=True,
        score_drift=ColumnDrift(
            name="score", method="K-S p_value", score=0.2, threshold=0.05, drifted=False
        ),
        score_psi=0.07,
        missing={"amount": 0, "is_night": 3, "score": 0},
        out_of_range={"amount": 0.1, "is_night": 0.0, "score": 0.0},
        status="drift",
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
        duration_s=1.25,
    )


def value(reg: CollectorRegistry, name: str, **labels: str) -> float | None:
    return reg.get_sample_value(f"fraudscore_drift_{name}", labels)


def test_publish_summary_sets_every_gauge() -> None:
    reg = CollectorRegistry()
    m = DriftMetrics(reg)
    publish_summary(m, summary())
    m.set_window("v1", 500)
    m.drop("invalid", 2)
    assert value(reg, "feature_score", model_version="v1", feature="amount") == 0.001
    assert value(reg, "feature_drifted", model_version="v1", feature="amount") == 1.0
    assert value(reg, "feature_drifted", model_version="v1", feature="is_night") == 0.0
    assert value(reg, "missing_values", model_version="v1", feature="is_night") == 3.0
    assert value(reg, "share_drifted", model_version="v1") == 0.5
    assert value(reg, "dataset_drift", model_version="v1") == 1.0
    assert value(reg, "score_drifted", model_version="v1") == 0.0
    assert value(reg, "score_psi", model_version="v1") == pytest.approx(0.07)
    assert value(reg, "window_samples", model_version="v1") == 500
    assert value(reg, "last_run_timestamp_seconds", model_version="v1") == 1735689600.0
    assert value(reg, "last_run_duration_seconds", model_version="v1") == 1.25
    assert value(reg, "samples_dropped_total", reason="invalid") == 2.0
    assert value(reg, "reports_total", model_version="v1") == 1.0


def test_registries_do_not_collide_and_versions_are_forgotten() -> None:
    reg_a, reg_b = CollectorRegistry(), CollectorRegistry()
    a, _ = DriftMetrics(reg_a), DriftMetrics(reg_b)  # same names, no "Duplicated timeseries"
    a.publish_summary(summary("v1"))
    a.publish_summary(summary("v2"))
    a.set_window("v2", 10)
    a.forget_version("v1")
    a.forget_version("never-seen")
    text = generate_latest(reg_a).decode()
    assert 'model_version="v1"' not in text
    assert 'model_version="v2"' in text
    assert value(reg_b, "share_drifted", model_version="v1") is None
