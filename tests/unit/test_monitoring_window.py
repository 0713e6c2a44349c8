"""The rolling window: bounded, due when full and on schedule, and its frame."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from core.messages import Sample
from monitoring.drift.window import SampleWindow

COLS = ("a", "b")
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def sample(i: int, **features: float) -> Sample:
    return Sample(
        event_id=f"e{i}",
        event_time=T0 + timedelta(seconds=i),
        model_version="v1",
        score=i / 1000,
        features=features or {"a": float(i), "b": 1.0},
    )


def test_bounded_and_due_every_capacity_new_samples() -> None:
    w = SampleWindow(COLS, 5)
    for i in range(4):
        w.add(sample(i))
        assert w.due(now=0.0) is None
    w.add(sample(4))
    assert w.due(now=0.0) == "full"
    w.mark_reported(now=0.0)
    for i in range(5, 9):
        w.add(sample(i))
    assert len(w) == 5 and w.new_since_report == 4 and w.due(now=0.0) is None
    w.add(sample(9))
    assert w.due(now=0.0) == "full"
    assert list(w.to_frame()["a"]) == [5.0, 6.0, 7.0, 8.0, 9.0]  # the oldest fell out


def test_schedule_needs_interval_min_samples_and_new_data() -> None:
    w = SampleWindow(COLS, 100, interval_s=60.0, min_samples=3, now=1000.0)
    w.add(sample(0))
    w.add(sample(1))
    assert w.due(now=1100.0) is None  # too few samples
    w.add(sample(2))
    assert w.due(now=1059.0) is None  # interval not elapsed
    assert w.due(now=1060.0) == "schedule"
    w.mark_reported(now=1060.0)
    assert w.due(now=2000.0) is None  # nothing new since the last report
    w.add(sample(3))
    assert w.due(now=1100.0) is None
    assert w.due(now=1120.0) == "schedule"


def test_no_schedule_without_interval() -> None:
    w = SampleWindow(COLS, 100, min_samples=1)
    w.add(sample(0))
    assert w.due(now=1e9) is None


def test_min_samples_is_capped_by_capacity() -> None:
    w = SampleWindow(COLS, 10, interval_s=1.0, min_samples=500)
    assert w.min_samples == 10


def test_frame_columns_missing_features_and_times() -> None:
    w = SampleWindow(COLS, 10)
    w.add(sample(1, a=1.5))  # b absent -> NaN
    naive = Sample(
        event_id="n",
        event_time=datetime(2025, 1, 2),
        model_version="v1",
        score=0.5,
        features={"a": 2.0, "b": 3.0, "extra": 9.0},
    )
    w.add(naive)  # a naive time is taken as UTC
    f = w.to_frame()
    assert list(f.columns) == ["a", "b", "score", "event_time"]
    assert f["a"].tolist() == [1.5, 2.0]
    assert math.isnan(f["b"][0]) and f["b"][1] == 3.0
    assert f["score"].tolist() == [0.001, 0.5]
    assert f["event_time"].tolist() == [T0 + timedelta(seconds=1), datetime(2025, 1, 2, tzinfo=UTC)]


def test_empty_frame_and_bad_capacity() -> None:
    f = SampleWindow(COLS, 3).to_frame()
    assert f.shape == (0, 4)
    with pytest.raises(ValueError):
        SampleWindow(COLS, 0)
