"""The profile's stage breakdown, from hand-made pstats entries (no profiled run needed)."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.profiling import FuncKey, RawStats, breakdown, stage_seconds, top_functions

CONSUME: FuncKey = ("~", 0, "<method 'consume' of 'cimpl.Consumer' objects>")
LABELS: FuncKey = ("/x/worker/labels.py", 60, "drain")
SCORE: FuncKey = ("/x/decision/outputs.py", 170, "route")
PREDICT: FuncKey = ("/x/models/serving.py", 40, "predict")
REASONS: FuncKey = ("/x/models/serving.py", 44, "reasons")
COMMIT: FuncKey = ("/x/worker/commit.py", 150, "commit")
PUBLISH: FuncKey = ("/x/worker/commit.py", 70, "publish")
OTHER_PREDICT: FuncKey = ("/x/models/scorer.py", 105, "predict")  # inside ServingModel.predict


def entry(
    tt: float, ct: float, callers: dict[FuncKey, tuple[Any, ...]] | None = None
) -> tuple[Any, ...]:
    return (1, 1, tt, ct, callers or {})


def raw() -> RawStats:
    return {
        # 3.0 s of consume in all, 0.5 s of it by the label consumer (a recorded caller)
        CONSUME: entry(3.0, 3.0, {LABELS: (1, 1, 0.5, 0.5)}),
        LABELS: entry(0.1, 0.6),
        SCORE: entry(0.4, 1.0),
        PREDICT: entry(0.0, 0.3),
        REASONS: entry(0.0, 0.2),
        OTHER_PREDICT: entry(0.3, 0.3),
        COMMIT: entry(0.0, 2.0),
        PUBLISH: entry(1.0, 1.8),
    }


def test_consume_counts_only_the_loops_own_calls() -> None:
    per = stage_seconds(raw())
    assert per["consume (fetch wait + hand-over)"] == pytest.approx(2.5)
    assert per["apply labels (label consumer, watermark requests)"] == pytest.approx(0.6)


def test_nested_stages_are_net_of_their_inner_stages() -> None:
    per = stage_seconds(raw())
    assert per["predict (one call per batch)"] == pytest.approx(0.3)  # not scorer.py's predict
    assert per["route + serialize outputs (pydantic JSON)"] == pytest.approx(0.5)
    assert per["produce + wait for acks"] == pytest.approx(1.8)
    assert per["commit (offsets stored, or the transaction)"] == pytest.approx(0.2)


def test_breakdown_shares_add_up_with_other() -> None:
    stages = breakdown(raw(), seconds=10.0, events=1000)
    assert sum(st.share for st in stages) == pytest.approx(1.0)
    other = stages[-1]
    assert other.name.startswith("other") and other.seconds == pytest.approx(10.0 - 6.1)
    consume = next(st for st in stages if st.name.startswith("consume"))
    assert consume.us_per_event == pytest.approx(2500.0)


def test_top_functions_by_own_time() -> None:
    top = top_functions(raw(), n=2)
    assert [secs for _, secs in top] == [3.0, 1.0]
    assert top[1][0] == "/x/worker/commit.py:70(publish)"
