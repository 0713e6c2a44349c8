"""Hot reload: promote a new bundle while a worker runs; later scores carry the new version and
no event is lost or scored twice."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest

from models import registry
from models.protocol import fold_starts
from models.train import train_model
from simulator.produce import produce_stream
from tests.e2e.helpers import e2e_settings, read_all, running_worker

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def test_promotion_is_picked_up_without_restart(
    kafka_bootstrap: str,
    redis_url: str,
    unique_name: str,
    e2e_dataset: pd.DataFrame,
    e2e_model_dir: Path,
    tmp_path: Path,
) -> None:
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

    s = e2e_settings(kafka_bootstrap, redis_url, unique_name, root, model_check_interval_s=0.2)
    half = len(e2e_dataset) // 2
    early, late = e2e_dataset.iloc[:half], e2e_dataset.iloc[half:]
    prefix = f"{unique_name}-"
    with running_worker(s, max_events=len(e2e_dataset), idle_timeout_s=60):
        produce_stream(early, s, id_prefix=prefix, progress=False, with_labels=False)
        _wait_for_scores(kafka_bootstrap, s.topic_scores, half)
        registry.promote(root, second)
        time.sleep(1.0)  # five model checks
        produce_stream(late, s, id_prefix=prefix, progress=False, with_labels=False)

    scores = [json.loads(v or b"{}") for _, v, _ in read_all(kafka_bootstrap, s.topic_scores)]
    ids = [r["event_id"] for r in scores]
    assert sorted(ids) == sorted(f"{prefix}{i}" for i in e2e_dataset["TRANSACTION_ID"])
    version = {r["event_id"]: r["model_version"] for r in scores}
    assert {version[f"{prefix}{i}"] for i in early["TRANSACTION_ID"]} == {first}
    assert {version[f"{prefix}{i}"] for i in late["TRANSACTION_ID"]} == {second}


def _wait_for_scores(kafka: str, topic: str, n: int, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if len(read_all(kafka, topic, timeout_s=5)) >= n:
            return
        time.sleep(0.5)
    raise AssertionError(f"fewer than {n} score records after {timeout_s} s")
