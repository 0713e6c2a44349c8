"""Hot reload: keep a challenger, promote it, then roll back, while a worker runs; scores carry the
versions that produced them and no event is lost or scored twice."""

from __future__ import annotations

import json
import shutil
import time
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.registry import FEATURE_NAMES
from models import registry
from models.bundle import load_bundle
from models.protocol import fold_starts
from models.scorer import Scorer
from models.train import train_model
from simulator.produce import produce_stream
from tests.e2e.helpers import e2e_settings, read_all, running_worker, wait_for_records

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def test_challenger_promotion_and_rollback_are_followed_without_restart(
    kafka_bootstrap: str,
    redis_url: str,
    unique_name: str,
    e2e_dataset: pd.DataFrame,
    e2e_model_dir: Path,
    tmp_path: Path,
) -> None:
    """A quarter of the stream per registry state, one worker throughout: ``first`` alone; then
    ``second`` kept as challenger (shadow-scored); then ``second`` promoted (no challenger left);
    then ``first`` again after ``fraudscore models rollback``.

    Every event is scored exactly once, and every score carries the versions that produced it:
    with every event sampled, each sample's features, scored offline by the bundle its record
    names, give the score that record carries.
    """
    root = tmp_path / "models"
    shutil.copytree(e2e_model_dir, root)
    first = registry.current_version(root)
    second_result = train_model(
        e2e_dataset,
        train_start=fold_starts(e2e_dataset, 1)[0],
        budget_per_day=3,
        params={"num_leaves": 7},
        seed=1,
    )
    second = registry.add_bundle(root, second_result, [second_result], promote_it=False).version
    assert first is not None and second != first

    s = e2e_settings(
        kafka_bootstrap, redis_url, unique_name, root, model_check_interval_s=0.2, sample_rate=1.0
    )
    n = len(e2e_dataset)
    cuts = [0, n // 4, n // 2, 3 * n // 4, n]
    parts = [e2e_dataset.iloc[a:b] for a, b in pairwise(cuts)]
    changes = [
        lambda: registry.set_challenger(root, second, {"reason": "test: challenger"}),
        lambda: registry.promote(root, second),
        lambda: registry.rollback(root),
    ]
    prefix = f"{unique_name}-"
    with running_worker(s, max_events=n, idle_timeout_s=60):
        for i, part in enumerate(parts):
            if i:
                wait_for_records(kafka_bootstrap, s.topic_scores, cuts[i])
                changes[i - 1]()
                time.sleep(1.0)  # five model checks
            produce_stream(part, s, id_prefix=prefix, progress=False, with_labels=False)

    # a generous read deadline: ~11k scores and ~11k samples on a loaded 2-core machine
    scores = [json.loads(v or b"{}") for v in _values(kafka_bootstrap, s.topic_scores)]
    ids = [r["event_id"] for r in scores]
    assert sorted(ids) == sorted(f"{prefix}{i}" for i in e2e_dataset["TRANSACTION_ID"])
    version = {r["event_id"]: (r["model_version"], r.get("challenger_version")) for r in scores}
    expected = [(first, None), (first, second), (second, None), (first, None)]
    for part, want in zip(parts, expected, strict=True):
        assert {version[f"{prefix}{i}"] for i in part["TRANSACTION_ID"]} == {want}

    samples = [json.loads(v or b"{}") for v in _values(kafka_bootstrap, s.topic_samples)]
    assert len(samples) == n
    score_of = {r["event_id"]: r["score"] for r in scores}
    for v in (first, second):
        mine = [x for x in samples if x["model_version"] == v]
        x = np.array([[row["features"][f] for f in FEATURE_NAMES] for row in mine])
        offline = Scorer(load_bundle(registry.bundle_path(root, v))).predict(x)
        served = np.array([score_of[row["event_id"]] for row in mine])
        assert np.allclose(offline, served, rtol=0, atol=1e-9), f"scores of {v} are its own"
    shadowed = [r for r in scores if r.get("challenger_version") == second]
    offline = Scorer(load_bundle(registry.bundle_path(root, second)))
    by_id = {x["event_id"]: x for x in samples}
    x = np.array([[by_id[r["event_id"]]["features"][f] for f in FEATURE_NAMES] for r in shadowed])
    shadow = np.array([r["challenger_score"] for r in shadowed])
    assert np.allclose(offline.predict(x), shadow, rtol=0, atol=1e-9), "shadow scores are its own"
    print(
        f"hot reload: {n} events in quarters {[len(p) for p in parts]}, scored by "
        f"{first}; + challenger {second}; {second}; {first}: 0 missing, 0 duplicates"
    )


def _values(kafka: str, topic: str) -> list[bytes | None]:
    return [v for _, v, _ in read_all(kafka, topic, timeout_s=120)]
