"""The pure pipeline's feature inputs.

The degraded raw features (the event alone), the feature matrix (in the event's own time zone)
and the store's events (cents, UTC milliseconds).
"""

from __future__ import annotations

import json

import numpy as np

from core.intake import split
from decision.features import degraded_raw, feature_matrix, store_events
from features.registry import FEATURE_NAMES, RAW_COLUMNS, RAW_INDEX, WINDOWS_DAYS, derive
from tests.unit.test_worker_pipeline import MAX, event, rec


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
