"""The competent per-event baseline (benchmarks/competent.py) computes, on a real Redis, the
features of the offline path (and so of the worker): the benchmark compares two ways of doing
one job, and its Redis work is one round trip per event."""

from __future__ import annotations

import numpy as np
import pytest
import redis

from benchmarks.competent import competent_features
from features.offline import compute_features
from simulator.config import SimulationConfig
from simulator.events import to_event
from simulator.generate import generate

pytestmark = pytest.mark.integration


def test_competent_features_equal_the_offline_features(redis_url: str, unique_name: str) -> None:
    config = SimulationConfig(
        n_customers=30, n_terminals=1000, n_days=45, seed=4, compromised_terminals_per_day=1
    )
    df = generate(config)
    df = df.sort_values(["TX_DATETIME", "TRANSACTION_ID"], kind="stable", ignore_index=True)
    expected = compute_features(df)
    r = redis.Redis.from_url(redis_url)
    for row in df[df["TX_FRAUD"] == 1].to_dict("records"):  # labels: only events <= t - D count
        ev = to_event(row, "x-")
        r.zadd(
            f"{unique_name}:tf:{ev.terminal_id}", {ev.event_id: ev.event_time.timestamp() * 1000}
        )
    before = int(r.info("stats")["total_commands_processed"])
    got = [competent_features(r, unique_name, to_event(row, "x-")) for row in df.to_dict("records")]
    commands = int(r.info("stats")["total_commands_processed"]) - before - 1  # the INFO itself
    assert df["TX_FRAUD"].sum() > 0 and expected["terminal_risk_30d"].max() > 0
    np.testing.assert_allclose(np.array(got), expected.to_numpy(), rtol=1e-12, atol=1e-9)
    assert commands == 14 * len(df)  # one pipeline of 14 commands per event
