"""Challenger scoring: a second bundle scored in shadow, recorded, never alerting."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from cli.compare import compare
from models import registry
from models.protocol import fold_starts
from models.train import train_model
from simulator.produce import produce_stream
from tests.e2e.helpers import e2e_settings, read_all, running_worker

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def test_challenger_is_scored_in_shadow_and_compared(
    kafka_bootstrap: str,
    redis_url: str,
    unique_name: str,
    e2e_dataset: pd.DataFrame,
    e2e_model_dir: Path,
    tmp_path: Path,
) -> None:
    root = tmp_path / "models"
    shutil.copytree(e2e_model_dir, root)
    other = train_model(
        e2e_dataset,
        train_start=fold_starts(e2e_dataset, 1)[0],
        budget_per_day=0.5,
        params={"num_leaves": 4},
        seed=2,
    )
    challenger = registry.add_bundle(root, other, [other], promote_it=False)
    champion = registry.current_version(root)
    s = e2e_settings(
        kafka_bootstrap, redis_url, unique_name, root, challenger_version=challenger.version
    )
    stats = produce_stream(e2e_dataset, s, id_prefix=f"{unique_name}-", progress=False)
    with running_worker(s, max_events=stats.transactions, idle_timeout_s=60):
        pass

    scores = [json.loads(v or b"{}") for _, v, _ in read_all(kafka_bootstrap, s.topic_scores)]
    alerts = [json.loads(v or b"{}") for _, v, _ in read_all(kafka_bootstrap, s.topic_alerts)]
    assert len(scores) == stats.transactions
    assert {r["challenger_version"] for r in scores} == {challenger.version}
    assert {r["model_version"] for r in scores} == {champion}
    assert any(r["score"] != r["challenger_score"] for r in scores)
    assert {a["model_version"] for a in alerts} == {champion}, "the challenger never alerts"
    threshold = alerts[0]["threshold"]
    assert {a["event_id"] for a in alerts} == {
        r["event_id"] for r in scores if r["score"] >= threshold
    }

    labels = [json.loads(v or b"{}") for _, v, _ in read_all(kafka_bootstrap, s.topic_labels)]
    result = compare(scores, labels)
    assert result.champion == champion and result.challenger == challenger.version
    assert result.frauds > 0 and 0.0 <= min(result.average_precision) <= 1.0
