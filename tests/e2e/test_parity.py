"""Offline/online parity: the worker's features from Redis equal the training code's features.

A simulated stream of several weeks, with its fraud labels as their own delayed events, goes
through the real worker (sample rate 1, so every event's feature vector is published); the same
rows go through ``features.offline.compute_features``. They must agree per event and per feature,
to float tolerance. A second pass of the same stream must leave features, scores and Redis as
they were (replay idempotency).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import redis

from features.offline import compute_features
from features.registry import FEATURE_NAMES
from simulator.produce import produce_stream
from tests.e2e.helpers import e2e_settings, read_all, running_worker

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def _redis_snapshot(url: str, prefix: str) -> dict[bytes, object]:
    r = redis.Redis.from_url(url)
    snap: dict[bytes, object] = {}
    for key in r.scan_iter(f"{prefix}:*", count=1000):
        kind = r.type(key)
        if kind == b"zset":
            snap[key] = r.zrange(key, 0, -1, withscores=True)
        elif kind == b"string":
            snap[key] = r.get(key)
    return snap


def test_online_features_equal_offline_and_replay_changes_nothing(
    kafka_bootstrap: str,
    redis_url: str,
    unique_name: str,
    e2e_dataset: pd.DataFrame,
    e2e_model_dir: Path,
) -> None:
    s = e2e_settings(
        kafka_bootstrap, redis_url, unique_name, e2e_model_dir, sample_rate=1.0, batch_max_events=50
    )
    df = e2e_dataset
    prefix = f"{unique_name}-"
    stats = produce_stream(df, s, id_prefix=prefix, progress=False)
    with running_worker(s, max_events=stats.transactions, idle_timeout_s=30):
        pass
    samples = [json.loads(v) for _, v, _ in read_all(kafka_bootstrap, s.topic_samples) if v]
    online = pd.DataFrame([x["features"] for x in samples], index=[x["event_id"] for x in samples])[
        list(FEATURE_NAMES)
    ]
    offline = compute_features(df)
    offline.index = [f"{prefix}{i}" for i in df["TRANSACTION_ID"]]
    assert len(online) == len(offline) == stats.transactions
    online = online.loc[offline.index]
    diff = np.abs(online.to_numpy() - offline.to_numpy())
    worst = {name: float(diff[:, j].max()) for j, name in enumerate(FEATURE_NAMES)}
    assert all(v <= 1e-9 for v in worst.values()), f"online != offline: {worst}"
    assert offline["terminal_risk_30d"].max() > 0, "the labels reached the terminal features"

    before = _redis_snapshot(redis_url, s.redis_key_prefix)
    scores_before = {
        json.loads(v)["event_id"]: json.loads(v)["score"]
        for _, v, _ in read_all(kafka_bootstrap, s.topic_scores)
        if v
    }
    again = e2e_settings(
        kafka_bootstrap,
        redis_url,
        unique_name,
        e2e_model_dir,
        sample_rate=1.0,
        group_id=f"{unique_name}-replay",
        worker_id=f"{unique_name}-w2",
    )
    with running_worker(again, max_events=stats.transactions, idle_timeout_s=30):
        pass
    assert _redis_snapshot(redis_url, s.redis_key_prefix) == before, "replay changed Redis"
    replayed: dict[str, list[float]] = {}
    for _, v, _ in read_all(kafka_bootstrap, s.topic_scores):
        rec = json.loads(v or b"{}")
        replayed.setdefault(rec["event_id"], []).append(rec["score"])
    assert all(len(v) == 2 and v[0] == v[1] == scores_before[k] for k, v in replayed.items())
