"""The naive baseline computes the same features as the offline path (and so as velocity.lua).

Redis is replaced by an in-memory sorted-set fake with the same range syntax, so the test opens no
socket; what it pins is that the naive loop does the same job, one command at a time.
"""

from __future__ import annotations

import bisect
from typing import Any, cast

import numpy as np
import pandas as pd

from benchmarks.naive import REDIS_CALLS_PER_EVENT, naive_features
from features.offline import compute_features
from features.registry import FEATURE_NAMES
from simulator.config import SimulationConfig
from simulator.events import to_event
from simulator.generate import generate


def _bound(text: str | float) -> tuple[float, bool]:
    """(value, exclusive) from a Redis score bound: 5, "(5", "-inf"."""
    s = str(text)
    if s.startswith("("):
        return float(s[1:]), True
    return float(s), False


class FakeSortedSets:
    """ZADD, ZREM, ZREMRANGEBYSCORE, ZRANGEBYSCORE, ZCOUNT, EXPIRE over dicts; counts calls."""

    def __init__(self) -> None:
        self.sets: dict[str, dict[bytes, float]] = {}
        self.calls = 0

    def _members(self, key: str, lo: str | float, hi: str | float) -> list[bytes]:
        (lo_v, lo_x), (hi_v, hi_x) = _bound(lo), _bound(hi)
        items = sorted(self.sets.get(key, {}).items(), key=lambda kv: (kv[1], kv[0]))
        scores = [s for _, s in items]
        start = bisect.bisect_right(scores, lo_v) if lo_x else bisect.bisect_left(scores, lo_v)
        end = bisect.bisect_left(scores, hi_v) if hi_x else bisect.bisect_right(scores, hi_v)
        return [m for m, _ in items[start:end]]

    def zadd(self, key: str, mapping: dict[str, float]) -> int:
        self.calls += 1
        self.sets.setdefault(key, {}).update({m.encode(): float(s) for m, s in mapping.items()})
        return len(mapping)

    def zrem(self, key: str, member: str) -> int:
        self.calls += 1
        return 1 if self.sets.get(key, {}).pop(member.encode(), None) is not None else 0

    def zremrangebyscore(self, key: str, lo: str | float, hi: str | float) -> int:
        self.calls += 1
        gone = self._members(key, lo, hi)
        for m in gone:
            del self.sets[key][m]
        return len(gone)

    def zrangebyscore(self, key: str, lo: str | float, hi: str | float) -> list[bytes]:
        self.calls += 1
        return self._members(key, lo, hi)

    def zcount(self, key: str, lo: str | float, hi: str | float) -> int:
        self.calls += 1
        return len(self._members(key, lo, hi))

    def expire(self, key: str, ttl: int) -> bool:
        self.calls += 1
        return True


def test_naive_features_equal_the_offline_features() -> None:
    config = SimulationConfig(
        n_customers=30, n_terminals=1000, n_days=45, seed=4, compromised_terminals_per_day=1
    )
    df = generate(config)
    df = df.sort_values(["TX_DATETIME", "TRANSACTION_ID"], kind="stable", ignore_index=True)
    expected = compute_features(df)
    fake = FakeSortedSets()
    for row in df[df["TX_FRAUD"] == 1].to_dict("records"):  # labels: only events <= t - D count
        ev = to_event(row, "x-")
        fake.zadd(f"p:tf:{ev.terminal_id}", {ev.event_id: ev.event_time.timestamp() * 1000})
    fake.calls = 0
    got = []
    for row in df.to_dict("records"):
        feats = naive_features(cast(Any, fake), "p", to_event(row, "x-"))
        got.append([feats[name] for name in FEATURE_NAMES])
    assert df["TX_FRAUD"].sum() > 0 and expected["terminal_risk_30d"].max() > 0
    np.testing.assert_allclose(np.array(got), expected.to_numpy(), rtol=1e-12, atol=1e-9)
    assert fake.calls == REDIS_CALLS_PER_EVENT * len(df)


def test_naive_features_of_a_first_event() -> None:
    fake = FakeSortedSets()
    row = {
        "TRANSACTION_ID": 1,
        "TX_DATETIME": pd.Timestamp("2018-04-07 03:00:00"),  # a Saturday night
        "CUSTOMER_ID": 5,
        "TERMINAL_ID": 9,
        "TX_AMOUNT": 12.5,
    }
    feats = naive_features(cast(Any, fake), "p", to_event(row, "x-"))
    assert feats["is_weekend"] == 1.0 and feats["is_night"] == 1.0
    assert feats["customer_tx_count_30d"] == 1.0
    assert feats["customer_avg_amount_1d"] == 12.5
    assert feats["amount_to_customer_avg_7d"] == 1.0
    assert feats["terminal_tx_count_1d"] == 0.0 and feats["terminal_risk_1d"] == 0.0
    assert list(fake.sets) == ["p:c:c5", "p:t:t9"]
