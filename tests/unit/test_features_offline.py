"""Offline features against hand-computed windows, and the registry's derive/time_parts/hash.

Customer windows: the customer's events in (t - w, t], the current one included.
Terminal windows: the terminal's events in (t - D - w, t - D] with D = 7 days; risk = frauds/events.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features import offline, registry
from features.offline import compute_features, raw_aggregates
from features.registry import (
    DAY_MS,
    FEATURE_NAMES,
    FEATURES,
    LABEL_DELAY_DAYS,
    RAW_COLUMNS,
    RAW_INDEX,
    derive,
    registry_hash,
    time_parts,
)

T0 = pd.Timestamp("2018-04-01 00:00:00")  # a Sunday
MS = pd.Timedelta(milliseconds=1)
DAY = pd.Timedelta(days=1)


def frame(rows: list[tuple[Any, ...]], *, fraud: bool = True) -> pd.DataFrame:
    """rows: (when, customer, terminal, amount[, fraud])."""
    df = pd.DataFrame(
        {
            "TRANSACTION_ID": range(len(rows)),
            "TX_DATETIME": [r[0] for r in rows],
            "CUSTOMER_ID": [r[1] for r in rows],
            "TERMINAL_ID": [r[2] for r in rows],
            "TX_AMOUNT": [r[3] for r in rows],
        }
    )
    if fraud:
        df["TX_FRAUD"] = [r[4] if len(r) > 4 else 0 for r in rows]
    return df


def col(raw: np.ndarray, name: str) -> list[float]:
    return raw[:, RAW_INDEX[name]].tolist()


# -- customer windows ------------------------------------------------------------------------------


def test_customer_windows_include_the_current_event_and_exclude_exactly_w_days_ago() -> None:
    df = frame(
        [
            (T0, "c1", "t1", 10.00),  # 0
            (T0 + 12 * pd.Timedelta(hours=1), "c1", "t1", 20.05),  # 1
            (T0 + DAY, "c1", "t1", 30.10),  # 2: exactly 1 day after 0 -> 0 out of its 1d window
            (T0 + 7 * DAY, "c1", "t1", 1.00),  # 3: exactly 7 days after 0
            (T0 + 12 * pd.Timedelta(hours=1), "c2", "t1", 5.00),  # 4: another customer
            (T0 + 30 * DAY, "c1", "t1", 2.00),  # 5: exactly 30 days after 0
            (T0 + 30 * DAY - MS, "c2", "t1", 3.00),  # 6: 1 ms under 30 days after 4's day
        ]
    )
    raw = raw_aggregates(df)
    assert col(raw, "customer_count_1d") == [1, 2, 2, 1, 1, 1, 1]
    assert col(raw, "customer_sum_1d") == [10.00, 30.05, 50.15, 1.00, 5.00, 2.00, 3.00]
    assert col(raw, "customer_count_7d") == [1, 2, 3, 3, 1, 1, 1]
    assert col(raw, "customer_sum_7d") == [10.00, 30.05, 60.15, 51.15, 5.00, 2.00, 3.00]
    assert col(raw, "customer_count_30d") == [1, 2, 3, 4, 1, 4, 2]
    assert col(raw, "customer_sum_30d") == [10.00, 30.05, 60.15, 61.15, 5.00, 53.15, 8.00]


def test_customer_window_one_ms_inside_the_boundary_counts() -> None:
    df = frame([(T0, "c", "t", 1.0), (T0 + DAY - MS, "c", "t", 2.0), (T0 + DAY, "c", "t", 4.0)])
    raw = raw_aggregates(df)
    assert col(raw, "customer_count_1d") == [1, 2, 2]
    assert col(raw, "customer_sum_1d") == [1.0, 3.0, 6.0]


def test_customer_windows_ignore_row_order_and_break_time_ties_by_file_order() -> None:
    df = frame(
        [
            (T0 + 2 * DAY, "c", "t", 4.0),
            (T0, "c", "t", 1.0),
            (T0 + 2 * DAY, "c", "t", 8.0),  # same ms as row 0, later in the file
        ]
    )
    raw = raw_aggregates(df)
    assert col(raw, "customer_count_7d") == [2, 1, 3]
    assert col(raw, "customer_sum_7d") == [5.0, 1.0, 13.0]
    assert col(raw, "customer_count_1d") == [1, 1, 2]


def test_sums_are_exact_in_cents() -> None:
    amounts = [0.1, 0.2, 0.7, 0.05, 0.15]
    df = frame([(T0 + i * MS, "c", "t", a) for i, a in enumerate(amounts)])
    sums = col(raw_aggregates(df), "customer_sum_1d")
    assert sums == [0.1, 0.3, 1.0, 1.05, 1.2]
    assert np.cumsum(amounts)[1] != 0.3  # float summation would be off; cents are not


# -- terminal windows ------------------------------------------------------------------------------


def test_terminal_windows_are_delayed_by_seven_days() -> None:
    d = LABEL_DELAY_DAYS
    assert d == 7
    q = T0 + 20 * DAY  # the query event
    df = frame(
        [
            (q - (d + 1) * DAY, "x", "T", 1.0, 1),  # 0: exactly t-D-1d -> outside 1d, inside 7d
            (q - d * DAY, "x", "T", 1.0, 0),  # 1: exactly t-D -> inside every window
            (q - d * DAY + MS, "x", "T", 1.0, 1),  # 2: 1 ms after t-D -> outside
            (q - (d + 7) * DAY, "x", "T", 1.0, 1),  # 3: exactly t-D-7d -> outside 7d, in 30d
            (q - (d + 30) * DAY + MS, "x", "T", 1.0, 1),  # 4: just inside 30d
            (q - (d + 30) * DAY, "x", "T", 1.0, 1),  # 5: exactly t-D-30d -> outside
            (q - d * DAY, "x", "OTHER", 1.0, 1),  # 6: other terminal
            (q, "x", "T", 1.0, 1),  # 7: the query, its own label unknown yet
        ]
    )
    raw = raw_aggregates(df)
    assert raw[7, RAW_INDEX["terminal_count_1d"]] == 1  # row 1
    assert raw[7, RAW_INDEX["terminal_frauds_1d"]] == 0
    assert raw[7, RAW_INDEX["terminal_count_7d"]] == 2  # rows 0, 1
    assert raw[7, RAW_INDEX["terminal_frauds_7d"]] == 1
    assert raw[7, RAW_INDEX["terminal_count_30d"]] == 4  # rows 0, 1, 3, 4
    assert raw[7, RAW_INDEX["terminal_frauds_30d"]] == 3
    feats = compute_features(df)
    assert feats.loc[7, "terminal_risk_1d"] == 0.0
    assert feats.loc[7, "terminal_risk_7d"] == 0.5
    assert feats.loc[7, "terminal_risk_30d"] == 0.75
    assert feats.loc[7, "terminal_tx_count_30d"] == 4


def test_terminal_risk_is_zero_without_transactions() -> None:
    df = frame([(T0, "a", "T", 5.0, 1), (T0 + 3 * DAY, "b", "T", 5.0, 1)])
    feats = compute_features(df)
    for w in registry.WINDOWS_DAYS:
        assert feats[f"terminal_tx_count_{w}d"].tolist() == [0.0, 0.0]
        assert feats[f"terminal_risk_{w}d"].tolist() == [0.0, 0.0]


def test_missing_fraud_column_means_no_frauds() -> None:
    df = frame([(T0, "a", "T", 1.0), (T0 + 7.5 * DAY, "a", "T", 1.0)], fraud=False)
    raw = raw_aggregates(df)
    assert col(raw, "terminal_count_1d") == [0, 1]
    assert col(raw, "terminal_frauds_30d") == [0, 0]


def test_missing_required_column_is_a_clear_error() -> None:
    df = frame([(T0, "a", "T", 1.0)]).drop(columns=["TERMINAL_ID"])
    with pytest.raises(ValueError, match="TERMINAL_ID"):
        raw_aggregates(df)


def test_tz_aware_utc_input_equals_naive_utc() -> None:
    naive = frame([(T0, "a", "T", 1.0), (T0 + 8 * DAY, "a", "T", 2.0)])
    aware = naive.assign(TX_DATETIME=naive["TX_DATETIME"].dt.tz_localize("UTC"))
    assert np.array_equal(raw_aggregates(naive), raw_aggregates(aware))
    assert offline.event_ms(naive["TX_DATETIME"]).tolist() == [
        1_522_540_800_000,
        1_522_540_800_000 + 8 * DAY_MS,
    ]


# -- compute_features / derive ---------------------------------------------------------------------


def test_compute_features_columns_and_index() -> None:
    df = frame([(T0, "a", "T", 1.0), (T0 + DAY, "a", "T", 3.0)])
    df.index = pd.Index([17, 4])
    feats = compute_features(df)
    assert list(feats.columns) == list(FEATURE_NAMES)
    assert feats.index.tolist() == [17, 4]
    assert feats.loc[4, "customer_avg_amount_7d"] == 2.0
    assert feats.loc[4, "amount_to_customer_avg_7d"] == 1.5
    assert feats.loc[4, "customer_tx_count_7d"] == 2.0
    assert feats.loc[4, "is_weekend"] == 0.0  # Monday
    assert feats.loc[17, "is_weekend"] == 1.0  # Sunday
    assert feats.loc[17, "is_night"] == 1.0  # 00:00


def test_derive_columns_and_ratio_one_when_average_is_zero() -> None:
    raw = np.zeros((3, len(RAW_COLUMNS)))
    raw[1, RAW_INDEX["customer_count_7d"]] = 2
    raw[1, RAW_INDEX["customer_sum_7d"]] = 0.0  # average 0 from zero amounts
    raw[2, RAW_INDEX["customer_count_30d"]] = 4
    raw[2, RAW_INDEX["customer_sum_30d"]] = 10.0
    raw[2, RAW_INDEX["terminal_count_1d"]] = 8
    raw[2, RAW_INDEX["terminal_frauds_1d"]] = 2
    amounts = np.array([5.0, 0.0, 5.0])
    x = derive(raw, amounts, np.zeros(3, dtype=np.int64))
    assert x.shape == (3, len(FEATURE_NAMES))
    c = {n: x[:, j].tolist() for j, n in enumerate(FEATURE_NAMES)}
    assert c["amount"] == [5.0, 0.0, 5.0]
    assert c["customer_avg_amount_7d"] == [0.0, 0.0, 0.0]
    assert c["amount_to_customer_avg_7d"] == [1.0, 1.0, 1.0]
    assert c["customer_avg_amount_30d"] == [0.0, 0.0, 2.5]
    assert c["amount_to_customer_avg_30d"] == [1.0, 1.0, 2.0]
    assert c["terminal_risk_1d"] == [0.0, 0.0, 0.25]
    assert c["terminal_tx_count_1d"] == [0.0, 0.0, 8.0]
    assert np.isfinite(x).all()


def test_every_reason_template_formats() -> None:
    values = {n: 1.5 for n in FEATURE_NAMES}
    for f in FEATURES:
        text = f.reason.format(**values)
        assert text and "{" not in text, f.name
    assert registry.defaults_row().tolist() == [f.default for f in FEATURES]


# -- time_parts ------------------------------------------------------------------------------------


def _ms(text: str) -> int:
    return int(pd.Timestamp(text).value // 1_000_000)


@pytest.mark.parametrize(
    "when,weekend,night",
    [
        ("2018-04-01 12:00", 1.0, 0.0),  # Sunday
        ("2018-03-31 23:59:59.999", 1.0, 0.0),  # Saturday
        ("2018-03-30 12:00", 0.0, 0.0),  # Friday
        ("2018-04-02 00:00", 0.0, 1.0),  # Monday midnight
        ("2018-04-02 06:59:59.999", 0.0, 1.0),
        ("2018-04-02 07:00", 0.0, 0.0),
        ("2018-04-07 03:00", 1.0, 1.0),  # Saturday night
        ("1970-01-01 00:00", 0.0, 1.0),  # Thursday
        ("1969-12-28 08:00", 1.0, 0.0),  # Sunday before the epoch
        ("1969-12-29 06:30", 0.0, 1.0),  # Monday before the epoch
    ],
)
def test_time_parts_on_known_dates(when: str, weekend: float, night: float) -> None:
    w, n = time_parts(np.array([_ms(when)], dtype=np.int64))
    assert (w[0], n[0]) == (weekend, night)
    assert (pd.Timestamp(when).dayofweek >= 5) == bool(weekend)  # the table itself is right


def test_time_parts_over_two_weeks_matches_pandas() -> None:
    stamps = pd.date_range("2018-03-26", periods=14 * 24 * 4, freq="15min")
    ms = stamps.asi8 // 1_000_000
    w, n = time_parts(ms.astype(np.int64))
    assert w.tolist() == (stamps.dayofweek >= 5).astype(float).tolist()
    assert n.tolist() == (stamps.hour <= 6).astype(float).tolist()


def test_offline_weekend_and_night_use_the_events_offset() -> None:
    df = frame([("2018-04-01T23:30:00-05:00", "a", "T", 1.0)])  # local Sunday 23:30
    df["TX_DATETIME"] = pd.to_datetime(df["TX_DATETIME"])
    feats = compute_features(df)
    assert (feats.loc[0, "is_weekend"], feats.loc[0, "is_night"]) == (1.0, 0.0)


# -- registry hash ---------------------------------------------------------------------------------


def test_registry_hash_is_stable() -> None:
    h = registry_hash()
    assert h == registry_hash()
    assert len(h) == 16 and int(h, 16) >= 0
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)


@pytest.mark.parametrize(
    "change",
    [
        {"default": 7.0},
        {"window_days": 14},
        {"name": "renamed"},
        {"entity": "terminal"},
    ],
)
def test_registry_hash_changes_with_a_feature_def(
    monkeypatch: pytest.MonkeyPatch, change: dict[str, Any]
) -> None:
    before = registry_hash()
    i = FEATURE_NAMES.index("customer_tx_count_7d")
    changed = (*FEATURES[:i], dataclasses.replace(FEATURES[i], **change), *FEATURES[i + 1 :])
    monkeypatch.setattr(registry, "FEATURES", changed)
    assert registry_hash() != before


def test_registry_hash_changes_with_order_and_label_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    before = registry_hash()
    with monkeypatch.context() as mp:
        mp.setattr(registry, "FEATURES", (FEATURES[1], FEATURES[0], *FEATURES[2:]))
        assert registry_hash() != before
    with monkeypatch.context() as mp:
        mp.setattr(registry, "LABEL_DELAY_DAYS", 14)
        assert registry_hash() != before
    assert registry_hash() == before


def test_registry_hash_ignores_descriptions(monkeypatch: pytest.MonkeyPatch) -> None:
    before = registry_hash()
    reworded = tuple(dataclasses.replace(f, description="x", reason="y") for f in FEATURES)
    monkeypatch.setattr(registry, "FEATURES", reworded)
    assert registry_hash() == before
