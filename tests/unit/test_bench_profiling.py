"""The profile's stage breakdown, from hand-made pstats entries (no profiled run needed)."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.profiling import FuncKey, RawStats, breakdown, stage_seconds, top_functions

CONSUME: FuncKey = ("~", 0, "<method 'consume' of 'cimpl.Consumer' objects>")
POLL: FuncKey = ("/x/core/kafka.py", 168, "poll_batch")
RECORDS: FuncKey = ("/x/core/records.py", 36, "to_records")
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
        # 3.0 s of consume in all: 2.5 s in the loop's poll_batch, 0.5 s by the label consumer
        CONSUME: entry(3.0, 3.0, {LABELS: (1, 1, 0.5, 0.5), POLL: (1, 1, 2.5, 2.5)}),
        POLL: entry(0.0, 2.5),
        # 0.4 s in all, 0.1 s of it from a recorded caller: 0.3 s straight from the loop
        RECORDS: entry(0.4, 0.4, {LABELS: (1, 1, 0.1, 0.1)}),
        LABELS: entry(0.1, 0.6),
        SCORE: entry(0.4, 1.0),
        PREDICT: entry(0.0, 0.3),
        REASONS: entry(0.0, 0.2),
        OTHER_PREDICT: entry(0.3, 0.3),
        COMMIT: entry(0.0, 2.0),
        PUBLISH: entry(1.0, 1.8),
    }


def test_consume_is_the_loops_poll_not_the_label_consumers() -> None:
    per = stage_seconds(raw())
    assert per["consume (fetch wait + hand-over)"] == pytest.approx(2.5)
    assert per["apply labels (label consumer, watermark requests)"] == pytest.approx(0.6)


def test_a_top_level_stage_counts_only_the_calls_made_straight_from_the_loop() -> None:
    assert stage_seconds(raw())["messages -> records"] == pytest.approx(0.3)


def test_nested_stages_are_net_of_their_inner_stages() -> None:
    per = stage_seconds(raw())
    assert per["predict (one call per batch)"] == pytest.approx(0.3)  # not scorer.py's predict
    # route no longer calls the model (decide does, before it): nothing to net out
    assert per["route + serialize outputs (pydantic JSON)"] == pytest.approx(1.0)
    assert per["produce + wait for acks"] == pytest.approx(1.8)
    assert per["commit (offsets stored, or the transaction)"] == pytest.approx(0.2)


def test_breakdown_shares_add_up_with_other() -> None:
    stages = breakdown(raw(), seconds=10.0, events=1000)
    assert sum(st.share for st in stages) == pytest.approx(1.0)
    other = stages[-1]
    assert other.name.startswith("other") and other.seconds == pytest.approx(10.0 - 6.9)
    consume = next(st for st in stages if st.name.startswith("consume"))
    assert consume.us_per_event == pytest.approx(2500.0)


def test_top_functions_by_own_time() -> None:
    top = top_functions(raw(), n=2)
    assert [secs for _, secs in top] == [3.0, 1.0]
    assert top[1][0] == "/x/worker/commit.py:70(publish)"
