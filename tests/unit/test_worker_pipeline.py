"""The pure pipeline: dead letters, split, scoring and routing, sampling, determinism.

A fake model scores each row as ``amount / 100``, so a test picks scores by picking amounts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from core.decode import Rejection
from core.intake import dead_letter, split
from core.messages import Reason, TransactionEvent
from core.pan import find_pans, luhn_ok
from core.records import InRecord, OutRecord
from decision.core import decide
from decision.features import degraded_raw, feature_matrix, store_events
from decision.model import FloatArray
from decision.outputs import Origin, Topics, alert_id, is_sampled, route
from features.registry import FEATURE_NAMES, RAW_COLUMNS, RAW_INDEX, WINDOWS_DAYS, derive

MAX = 64 * 1024
PAN = "4111111111111111"
TOPICS = Topics(dlq="t.dlq", alerts="t.alerts", scores="t.scores", samples="t.samples")
HEADER_NAMES = [
    "reason",
    "stage",
    "origin_topic",
    "origin_partition",
    "origin_offset",
    "origin_timestamp_ms",
]


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


def pan_like_anywhere(data: bytes) -> list[str]:
    """find_pans over the text, plus an independent scan of contiguous digit runs."""
    text = data.decode("latin-1")
    runs = re.findall(r"(?<![0-9])[0-9]{13,19}(?![0-9])", text)
    return [text[s:e] for s, e in find_pans(text)] + [r for r in runs if luhn_ok(r)]


# -- dead letters ---------------------------------------------------------------------------------


def test_dead_letter_masks_pans_and_keeps_everything_else() -> None:
    raw = b'\xff\x00{"card": "4111111111111111", "n": "4111 1111 1111 1111", "ok": 12345}\xe9'
    record = InRecord("in.topic", 3, 77, 1_700_000_000_123, b"key-4111111111111111", raw)
    out = dead_letter(record, Rejection("not valid JSON: x", "decode"), "the.dlq")
    expected = raw.replace(PAN.encode(), b"#" * 16).replace(b"4111 1111 1111 1111", b"#" * 19)
    assert out.topic == "the.dlq"
    assert out.value == expected
    assert len(out.value) == len(raw)
    assert out.key == b"key-################"
    assert [k for k, _ in out.headers] == HEADER_NAMES
    assert dict(out.headers) == {
        "reason": b"not valid JSON: x",
        "stage": b"decode",
        "origin_topic": b"in.topic",
        "origin_partition": b"3",
        "origin_offset": b"77",
        "origin_timestamp_ms": b"1700000000123",
    }


def test_dead_letter_without_pan_is_byte_identical() -> None:
    raw = bytes(range(256)) * 4
    out = dead_letter(rec(raw), Rejection("r", "decode"), "dlq")
    assert out.value == raw
    assert out.key is None


def test_dead_letter_of_tombstone() -> None:
    out = dead_letter(rec(None, offset=5), Rejection("empty value (tombstone)", "decode"), "dlq")
    assert out.value == b""
    assert dict(out.headers)["origin_offset"] == b"5"


def test_split_separates_good_and_bad_in_order() -> None:
    values: list[bytes | None] = [
        json.dumps(event(0)).encode(),
        b"{not json",
        json.dumps(event(1, customer_id=PAN)).encode(),
        None,
        json.dumps(event(2, amount="7")).encode(),
        json.dumps(event(3)).encode(),
        b"x" * (MAX + 1),
    ]
    records = [rec(v, offset=i) for i, v in enumerate(values)]
    good, dead = split(records, max_bytes=MAX, dlq_topic="dlq")
    assert [(r.offset, ev.event_id) for r, ev in good] == [(0, "evt-0"), (5, "evt-3")]
    assert all(r is records[r.offset] for r, _ in good)
    heads = [dict(d.headers) for d in dead]
    assert [h["origin_offset"] for h in heads] == [b"1", b"2", b"3", b"4", b"6"]
    assert [h["stage"] for h in heads] == [
        b"decode",
        b"validate",
        b"decode",
        b"validate",
        b"decode",
    ]
    assert all(d.topic == "dlq" for d in dead)
    for d in dead:
        assert pan_like_anywhere(d.value) == []
        # origin_timestamp_ms is a 13-digit number and Luhn-valid for ~10% of timestamps
        headers = [v for k, v in d.headers if k != "origin_timestamp_ms"]
        assert all(pan_like_anywhere(v) == [] for v in headers)
    assert b"################" in dead[1].value


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


# -- PAN leaks ------------------------------------------------------------------------------------


def test_no_output_contains_a_pan_even_if_the_input_had_one() -> None:
    dup_key = (
        b'{"customer_id": "4111111111111111", "event_id": "evt-9", "event_time": '
        b'"2018-04-07T23:30:00+00:00", "customer_id": "cust-9", "terminal_id": "t-9", "amount": 99}'
    )
    values = [
        json.dumps(event(0, 95.0)).encode(),
        json.dumps(event(1, 95.0, terminal_id=PAN)).encode(),
        json.dumps(event(2, 95.0, note=f"card {PAN}")).encode(),
        f'{{"event_id": "{PAN}"'.encode(),
        dup_key,
    ]
    records = [rec(v, offset=i, key=PAN.encode()) for i, v in enumerate(values)]
    good, dead = split(records, max_bytes=MAX, dlq_topic=TOPICS.dlq)
    assert [ev.event_id for _, ev in good] == ["evt-0", "evt-9"]
    out = score(
        good,
        degraded_raw(np.array([ev.amount for _, ev in good])),
        FakeModel(threshold=0.5),
        topics=TOPICS,
        sample_rate=1.0,
        top_k=3,
    )
    assert out.alerts == 2 and out.sampled == 2
    everything = dead + out.outputs
    assert {o.topic for o in everything} == {
        TOPICS.dlq,
        TOPICS.alerts,
        TOPICS.scores,
        TOPICS.samples,
    }
    for o in everything:
        assert pan_like_anywhere(o.value) == [], o
        assert o.key is None or pan_like_anywhere(o.key) == [], o
        assert pan_like_anywhere(dict(o.headers).get("reason", b"")) == []


# -- degraded_raw and feature_matrix --------------------------------------------------------------


def test_degraded_raw_is_the_event_alone_with_no_terminal_data() -> None:
    amounts = np.array([12.5, 0.0, 300.0])
    raw = degraded_raw(amounts)
    assert raw.shape == (3, len(RAW_COLUMNS))
    for w in WINDOWS_DAYS:
        assert raw[:, RAW_INDEX[f"customer_count_{w}d"]].tolist() == [1.0, 1.0, 1.0]
        assert raw[:, RAW_INDEX[f"customer_sum_{w}d"]].tolist() == [12.5, 0.0, 300.0]
        assert not raw[:, RAW_INDEX[f"terminal_count_{w}d"]].any()
        assert not raw[:, RAW_INDEX[f"terminal_frauds_{w}d"]].any()
    x = derive(raw, amounts, np.zeros(3, dtype=np.int64))
    col = {n: x[:, j].tolist() for j, n in enumerate(FEATURE_NAMES)}
    assert col["customer_avg_amount_7d"] == [12.5, 0.0, 300.0]
    assert col["amount_to_customer_avg_30d"] == [1.0, 1.0, 1.0]
    assert col["terminal_risk_1d"] == [0.0, 0.0, 0.0]
    assert degraded_raw(np.empty(0)).shape == (0, len(RAW_COLUMNS))


def test_feature_matrix_uses_the_events_own_offset() -> None:
    local_times = [
        ("2018-03-31T23:30:00-02:00", 1.0, 0.0),  # local Saturday 23:30 (UTC Sunday 01:30)
        ("2018-04-02T05:00:00+09:00", 0.0, 1.0),  # local Monday 05:00 (UTC Sunday 20:00)
        ("2018-04-02T07:00:00+00:00", 0.0, 0.0),
        ("2018-04-01T06:59:59+00:00", 1.0, 1.0),
    ]
    records = [
        rec(json.dumps(event(i, 1.0, event_time=t)).encode(), offset=i)
        for i, (t, _, _) in enumerate(local_times)
    ]
    good, _ = split(records, max_bytes=MAX, dlq_topic="dlq")
    x = feature_matrix([ev for _, ev in good], degraded_raw(np.ones(len(good))))
    assert x.shape == (4, len(FEATURE_NAMES))
    assert x[:, FEATURE_NAMES.index("is_weekend")].tolist() == [w for _, w, _ in local_times]
    assert x[:, FEATURE_NAMES.index("is_night")].tolist() == [n for _, _, n in local_times]


def test_store_events_in_cents_and_utc_ms() -> None:
    records = [rec(json.dumps(event(0, 0.29, event_time="2018-04-01T02:00:00+02:00")).encode())]
    good, _ = split(records, max_bytes=MAX, dlq_topic="dlq")
    (se,) = store_events([ev for _, ev in good])
    assert (se.event_id, se.customer_id, se.terminal_id) == ("evt-0", "cust-0", "term-0")
    assert se.event_ms == 1_522_540_800_000  # 2018-04-01T00:00:00Z
    assert se.amount_cents == 29


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
