"""The sidecar's core without Kafka: windows per model version, reports, status-change events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from prometheus_client import CollectorRegistry

from core.messages import Sample
from monitoring.drift.store import list_reports
from monitoring.drift.tracker import DriftTracker
from monitoring.metrics import DriftMetrics

COLS = ("amount", "is_night")
LOADS: list[str] = []
T0 = datetime(2025, 5, 1, tzinfo=UTC)


def reference(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "amount": rng.normal(50, 10, n),
            "is_night": (rng.random(n) < 0.2) * 1.0,
            "score": rng.beta(1, 10, n),
        }
    )


def samples(n: int, version: str, *, shift: float = 0.0, seed: int = 1) -> list[Sample]:
    rng = np.random.default_rng(seed)
    return [
        Sample(
            event_id=f"{version}-{seed}-{i}",
            event_time=T0 + timedelta(minutes=i),
            model_version=version,
            score=float(rng.beta(1, 10)),
            features={
                "amount": float(rng.normal(50 + shift, 10)),
                "is_night": float(rng.random() < 0.2),
            },
        )
        for i in range(n)
    ]


def tracker(tmp_path: Path, refs: dict[str, pd.DataFrame | None], **kw: Any) -> DriftTracker:
    """A tracker whose loader serves ``refs`` and records each call in ``LOADS``."""

    def load(version: str) -> pd.DataFrame | None:
        LOADS.append(version)
        return refs.get(version)

    LOADS.clear()
    return DriftTracker(
        load,
        DriftMetrics(CollectorRegistry()),
        reports_dir=tmp_path,
        columns=COLS,
        window=100,
        keep=10,
        table=False,
        **kw,
    )


def sample_value(t: DriftTracker, name: str, **labels: str) -> float | None:
    return t.metrics.registry.get_sample_value(f"fraudscore_drift_{name}", labels)


def test_report_when_full_then_event_only_on_status_change(tmp_path: Path) -> None:
    t = tracker(tmp_path, {"v1": reference()})
    for s in samples(99, "v1"):
        assert t.add(s, now=0.0)
    assert t.due(now=0.0) == []
    t.add(samples(1, "v1", seed=9)[0], now=0.0)
    assert t.due(now=0.0) == ["v1"]
    stored, event = t.report("v1", now=0.0)
    assert stored.html.is_file() and (tmp_path / "index.html").is_file()
    assert event is not None and event.previous_status is None
    assert event.status == stored.summary.status == "no_drift"
    assert sample_value(t, "window_samples", model_version="v1") == 100
    assert t.due(now=0.0) == []

    for s in samples(100, "v1", seed=2):
        t.add(s, now=1.0)
    _, same = t.report("v1", now=1.0)
    assert same is None  # unchanged status: no event

    for s in samples(100, "v1", shift=40.0, seed=3):
        t.add(s, now=2.0)
    stored, changed = t.report("v1", now=2.0)
    assert changed is not None
    assert (changed.previous_status, changed.status) == ("no_drift", "drift")
    assert changed.report == stored.html.name and "amount" in changed.drifted_columns
    assert sample_value(t, "feature_drifted", model_version="v1", feature="amount") == 1.0


def test_restart_takes_the_status_from_the_newest_stored_report(tmp_path: Path) -> None:
    first = tracker(tmp_path, {"v1": reference()})
    for s in samples(100, "v1", shift=40.0):
        first.add(s, now=0.0)
    _, event = first.report("v1", now=0.0)
    assert event is not None and event.status == "drift"
    again = tracker(tmp_path, {"v1": reference()})
    for s in samples(100, "v1", shift=40.0, seed=5):
        again.add(s, now=0.0)
    _, event = again.report("v1", now=0.0)
    assert event is None  # still drifting: nothing new to announce
    assert len(list_reports(tmp_path)) == 2


def test_samples_without_reference_are_dropped_and_retried(tmp_path: Path) -> None:
    refs: dict[str, pd.DataFrame | None] = {}
    t = tracker(tmp_path, refs, reference_retry_s=10.0)
    batch = samples(3, "v9")
    assert not t.add(batch[0], now=0.0)
    assert not t.add(batch[1], now=5.0)  # no reload before the retry interval
    assert LOADS == ["v9"]
    assert sample_value(t, "samples_dropped_total", reason="no_reference") == 2.0
    refs["v9"] = reference()
    assert t.add(batch[2], now=10.0)  # the bundle appeared: loaded on retry
    assert LOADS == ["v9", "v9"]


def test_unusable_reference_is_refused(tmp_path: Path) -> None:
    t = tracker(
        tmp_path,
        {"v1": reference().drop(columns=["is_night"]), "v2": reference().assign(amount=np.nan)},
    )
    assert not t.add(samples(1, "v1")[0], now=0.0)
    assert not t.add(samples(1, "v2")[0], now=0.0)


def test_each_version_has_its_own_window_and_old_ones_are_evicted(tmp_path: Path) -> None:
    ref = reference()
    t = tracker(tmp_path, {"v1": ref, "v2": ref, "v3": ref}, max_versions=2)
    for a, b in zip(samples(60, "v1"), samples(60, "v2"), strict=True):  # a rolling deploy
        t.add(a, now=0.0)
        t.add(b, now=0.0)
    assert sample_value(t, "window_samples", model_version="v1") == 60
    assert sample_value(t, "window_samples", model_version="v2") == 60
    t.add(samples(1, "v3")[0], now=0.0)  # v1 is the least recently seen: dropped
    assert sample_value(t, "window_samples", model_version="v1") is None
    assert sample_value(t, "window_samples", model_version="v3") == 1
    t.add(samples(1, "v1", seed=7)[0], now=0.0)  # v1 is back: a fresh window
    assert sample_value(t, "window_samples", model_version="v1") == 1


def test_schedule_reports_a_partial_window(tmp_path: Path) -> None:
    t = tracker(tmp_path, {"v1": reference()}, interval_s=30.0, min_samples=20)
    for s in samples(25, "v1"):
        t.add(s, now=0.0)
    assert t.due(now=29.0) == []
    assert t.due(now=30.0) == ["v1"]
    stored, _ = t.report("v1", now=30.0)
    assert stored.summary.n_current == 25
