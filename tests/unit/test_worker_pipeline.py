"""The pure pipeline: scoring and routing, sampling, determinism.

A fake model scores each row as ``amount / 100``, so a test picks scores by picking amounts. The
helpers here serve test_worker_pipeline_dead_letters.py and test_worker_pipeline_features.py too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from core.intake import split
from core.messages import Reason, TransactionEvent
from core.pan import find_pans
from core.records import InRecord, OutRecord
from decision.core import decide
from decision.features import degraded_raw
from decision.model import FloatArray
from decision.outputs import Origin, Topics, alert_id, is_sampled, route
from features.registry import FEATURE_NAMES

MAX = 64 * 1024
PAN = "4111111111111111"
TOPICS = Topics(dlq="t.dlq", alerts="t.alerts", scores="t.scores", samples="t.samples")


class FakeModel:
    """Implements pipeline.ScoringModel: score = amount / 100; records its reasons() calls."""

    def __init__(
        self, threshold: float = 0.5, block_threshold: float | None = 0.9, version: str = "m-7"
    ) -> None:
        self.version = version
        self.threshold = threshold
        self.block_threshold = block_threshold
        self.predict_calls = 0
        self.reason_rows: list[FloatArray] = []

    def predict(self, x: FloatArray) -> FloatArray:
        self.predict_calls += 1
        return x[:, FEATURE_NAMES.index("amount")] / 100.0

    def reasons(self, x: FloatArray, k: int) -> list[tuple[Reason, ...]]:
        self.reason_rows.append(x.copy())
        out = []
        for row in x:
            feats = [
                Reason(feature=n, value=float(v), contribution=0.1 * j, text=f"{n} is {v:.2f}")
                for j, (n, v) in enumerate(zip(FEATURE_NAMES, row, strict=True))
            ]
            out.append(tuple(feats[:k]))
        return out


def event(i: int, amount: float = 10.0, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": f"evt-{i}",
        "event_time": f"2018-04-{1 + i % 28:02d}T10:00:00+00:00",
        "customer_id": f"cust-{i % 3}",
        "terminal_id": f"term-{i % 5}",
        "amount": amount,
        **extra,
    }


def rec(
    value: bytes | None, offset: int = 0, partition: int = 0, key: bytes | None = None
) -> InRecord:
    return InRecord(
        "payments.transactions", partition, offset, 1_522_576_800_000 + offset, key, value
    )


def good_pairs(amounts: Sequence[float]) -> list[tuple[InRecord, TransactionEvent]]:
    records = [rec(json.dumps(event(i, a)).encode(), offset=100 + i) for i, a in enumerate(amounts)]
    good, dead = split(records, max_bytes=MAX, dlq_topic=TOPICS.dlq)
    assert dead == []
    return good


@dataclass
class Scored:
    outputs: list[OutRecord]
    alerts: int
    sampled: int
    scores: FloatArray


def score(
    good: Sequence[tuple[InRecord, TransactionEvent]],
    raw: FloatArray,
    model: FakeModel,
    *,
    topics: Topics,
    sample_rate: float,
    top_k: int,
    **kw: Any,
) -> Scored:
    """The loop's two calls: ``decide`` on the events, ``route`` with their origins."""
    d = decide([ev for _, ev in good], raw, model, top_k=top_k, **kw)
    origins = [Origin(r.topic, r.partition, r.offset) for r, _ in good]
    routed = route(d, origins, topics, sample_rate=sample_rate)
    return Scored(routed.outputs, routed.alerts, routed.sampled, d.scores)


def run(amounts: Sequence[float], model: FakeModel, **kw: Any) -> Scored:
    good = good_pairs(amounts)
    raw = degraded_raw(np.array(amounts, dtype=np.float64))
    kw.setdefault("sample_rate", 0.0)
    return score(good, raw, model, topics=TOPICS, top_k=kw.pop("top_k", 3), **kw)


def outputs_on(out: Sequence[OutRecord], topic: str) -> list[dict[str, Any]]:
    return [json.loads(o.value) for o in out if o.topic == topic]


# -- scoring and routing --------------------------------------------------------------------------


def test_alerts_exactly_for_scores_at_or_over_threshold() -> None:
    amounts = [20.0, 49.99, 50.0, 50.01, 89.0, 90.0, 95.0, 0.0]
    model = FakeModel(threshold=0.5, block_threshold=0.9)
    out = run(amounts, model)
    alerts = outputs_on(out.outputs, TOPICS.alerts)
    assert [a["event_id"] for a in alerts] == ["evt-2", "evt-3", "evt-4", "evt-5", "evt-6"]
    assert out.alerts == 5
    assert [a["tier"] for a in alerts] == ["review", "review", "review", "block", "block"]
    assert all(a["threshold"] == 0.5 and a["model_version"] == "m-7" for a in alerts)
    assert [a["score"] for a in alerts] == [0.5, 0.5001, 0.89, 0.9, 0.95]
    assert np.array_equal(out.scores, np.array(amounts) / 100.0)
    assert model.predict_calls == 1


def test_no_block_tier_without_block_threshold() -> None:
    alerts = outputs_on(run([99.0, 100.0], FakeModel(block_threshold=None)).outputs, TOPICS.alerts)
    assert [a["tier"] for a in alerts] == ["review", "review"]


def test_reasons_are_computed_for_flagged_rows_only() -> None:
    model = FakeModel(threshold=0.5)
    out = run([10.0, 60.0, 20.0, 70.0], model, top_k=2)
    (rows,) = model.reason_rows
    assert rows[:, FEATURE_NAMES.index("amount")].tolist() == [60.0, 70.0]
    alerts = outputs_on(out.outputs, TOPICS.alerts)
    assert [len(a["reasons"]) for a in alerts] == [2, 2]
    assert alerts[1]["reasons"][0] == {
        "feature": "amount",
        "value": 70.0,
        "contribution": 0.0,
        "text": "amount is 70.00",
    }


def test_score_record_for_every_event() -> None:
    out = run([10.0, 60.0, 30.0], FakeModel(threshold=0.5))
    scores = outputs_on(out.outputs, TOPICS.scores)
    assert [s["event_id"] for s in scores] == ["evt-0", "evt-1", "evt-2"]
    assert [(s["topic"], s["partition"], s["offset"]) for s in scores] == [
        ("payments.transactions", 0, 100),
        ("payments.transactions", 0, 101),
        ("payments.transactions", 0, 102),
    ]
    assert [s["alerted"] for s in scores] == [False, True, False]
    assert {s["model_version"] for s in scores} == {"m-7"}
    assert [s["score"] for s in scores] == [0.1, 0.6, 0.3]
    assert not any(s["degraded"] for s in scores)
    keys = [o.key for o in out.outputs if o.topic == TOPICS.scores]
    assert keys == [b"cust-0", b"cust-1", b"cust-2"]


def test_alert_carries_event_fields_and_deterministic_id() -> None:
    out = run([75.0], FakeModel())
    (alert,) = outputs_on(out.outputs, TOPICS.alerts)
    assert alert["alert_id"] == alert_id("evt-0") != alert_id("evt-1")
    assert (alert["customer_id"], alert["terminal_id"], alert["amount"]) == (
        "cust-0",
        "term-0",
        75.0,
    )
    assert alert["currency"] == "EUR"
    assert alert["event_time"].startswith("2018-04-01T10:00:00")
    (key,) = [o.key for o in out.outputs if o.topic == TOPICS.alerts]
    assert key == b"cust-0"


def test_alert_id_deterministic_and_distinct() -> None:
    ids = [alert_id(f"evt-{i}") for i in range(5000)]
    assert ids == [alert_id(f"evt-{i}") for i in range(5000)]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("al-") and not find_pans(i) for i in ids)


def test_degraded_flag_reaches_alerts_and_scores() -> None:
    out = run([10.0, 80.0], FakeModel(), degraded=True)
    assert [a["degraded"] for a in outputs_on(out.outputs, TOPICS.alerts)] == [True]
    assert [s["degraded"] for s in outputs_on(out.outputs, TOPICS.scores)] == [True, True]


def test_empty_batch_scores_nothing() -> None:
    model = FakeModel()
    out = score([], degraded_raw(np.empty(0)), model, topics=TOPICS, sample_rate=1.0, top_k=3)
    assert (out.outputs, out.alerts, out.sampled, len(out.scores)) == ([], 0, 0, 0)
    assert model.predict_calls == 0


# -- sampling -------------------------------------------------------------------------------------


def test_samples_follow_is_sampled_and_carry_features() -> None:
    amounts = [float(a) for a in range(1, 41)]
    out = run(amounts, FakeModel(threshold=2.0), sample_rate=0.3)
    samples = outputs_on(out.outputs, TOPICS.samples)
    expected = [f"evt-{i}" for i in range(40) if is_sampled(f"evt-{i}", 0.3)]
    assert 0 < len(expected) < 40
    assert [s["event_id"] for s in samples] == expected
    assert out.sampled == len(expected)
    for s in samples:
        assert list(s["features"]) == list(FEATURE_NAMES)
        assert s["score"] == s["features"]["amount"] / 100.0
        assert s["model_version"] == "m-7"
    keys = [o.key for o in out.outputs if o.topic == TOPICS.samples]
    assert keys == [e.encode() for e in expected]


def test_sample_rate_bounds() -> None:
    assert run([1.0] * 5, FakeModel(), sample_rate=1.0).sampled == 5
    assert run([1.0] * 5, FakeModel(), sample_rate=0.0).sampled == 0
    assert all(is_sampled(f"id-{i}", 1.0) for i in range(1000))
    assert not any(is_sampled(f"id-{i}", 0.0) for i in range(1000))


@pytest.mark.parametrize("rate", [0.01, 0.1, 0.5])
def test_is_sampled_deterministic_and_near_the_rate(rate: float) -> None:
    ids = [f"evt-{i:07d}" for i in range(50_000)]
    picks = [is_sampled(i, rate) for i in ids]
    assert picks == [is_sampled(i, rate) for i in ids]
    share = sum(picks) / len(ids)
    assert abs(share - rate) < max(0.004, rate * 0.1), share
    # nested: a higher rate samples a superset
    assert all(is_sampled(i, 0.6) for i, p in zip(ids, picks, strict=True) if p)


# -- determinism ----------------------------------------------------------------------------------


def test_same_inputs_give_byte_identical_outputs() -> None:
    def once() -> list[OutRecord]:
        values = [json.dumps(event(i, float(i * 7 % 101))).encode() for i in range(60)]
        values[5], values[17] = b"{bad", json.dumps(event(17, customer_id=PAN)).encode()
        records = [rec(v, offset=i, partition=i % 3) for i, v in enumerate(values)]
        good, dead = split(records, max_bytes=MAX, dlq_topic=TOPICS.dlq)
        out = score(
            good,
            degraded_raw(np.array([ev.amount for _, ev in good])),
            FakeModel(),
            topics=TOPICS,
            sample_rate=0.2,
            top_k=3,
        )
        return dead + out.outputs

    first, second = once(), once()
    assert len(first) > 60
    assert first == second
    assert [o.value for o in first] == [o.value for o in second]
