"""A backtest over the live record (real Kafka and Redis): a worker scores a stream, then
``fraudscore rules backtest --live-days N`` replays the last N days whose labels are due from the
transactions, labels and score records topics, each event with the score it was served.

The figures are recounted from the topics and the dataset directly: the judged events and frauds
of the window, a rule on the served score against the score records, a rule on the amount
against the dataset, and the model alone against the records' own scores.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app
from core.settings import get_settings
from models import registry
from simulator.produce import produce_stream
from tests.e2e.helpers import e2e_settings, read_all, running_worker, wait_for_records

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

DAYS = 14
POLICY = """name: live
rules:
  - id: served-score
    description: the score the worker served, over a threshold
    action: review
    when: score >= {cut}
  - id: big
    description: large payments
    action: block
    when: amount > 120
"""


def test_backtest_over_the_live_record_uses_the_served_scores_and_the_due_labels(
    kafka_bootstrap: str,
    redis_url: str,
    unique_name: str,
    e2e_dataset: pd.DataFrame,
    e2e_model_dir: Path,
    tmp_path: Path,
) -> None:
    root = tmp_path / "models"
    shutil.copytree(e2e_model_dir, root)
    s = e2e_settings(kafka_bootstrap, redis_url, unique_name, root)
    prefix = f"{unique_name}-"
    with running_worker(s, max_events=len(e2e_dataset), idle_timeout_s=60):
        produce_stream(e2e_dataset, s, id_prefix=prefix, progress=False)
        wait_for_records(kafka_bootstrap, s.topic_scores, len(e2e_dataset))
    records = [json.loads(v or b"{}") for _, v, _ in read_all(kafka_bootstrap, s.topic_scores)]
    served = {r["event_id"]: r["score"] for r in records}
    cut = round(float(pd.Series(list(served.values())).quantile(0.97)), 6)  # a few % hit
    policy = tmp_path / "live.yaml"
    policy.write_text(POLICY.format(cut=cut))
    env = {
        "FRAUDSCORE_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "FRAUDSCORE_MODEL_DIR": str(root),
        "FRAUDSCORE_TOPIC_TRANSACTIONS": s.topic_transactions,
        "FRAUDSCORE_TOPIC_LABELS": s.topic_labels,
        "FRAUDSCORE_TOPIC_SCORES": s.topic_scores,
    }
    args = ["rules", "backtest", "--policy", str(policy), "--live-days", str(DAYS)]
    args += ["--against", "none", "--out", str(tmp_path / "bt")]
    get_settings.cache_clear()  # the CLI reads the environment given here, not a cached one
    try:
        result = CliRunner().invoke(app, args, env=env)
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    bt = json.loads((tmp_path / "bt" / "backtest.json").read_text())

    # The window: the last DAYS days whose labels are due (labels arrive 7 days late).
    times = pd.to_datetime(e2e_dataset["TX_DATETIME"])
    cutoff = times.max()
    due = cutoff - pd.Timedelta(days=7)
    inside = (times > due - pd.Timedelta(days=DAYS)) & (times <= due)
    window = e2e_dataset[inside.to_numpy()]
    assert bt["events"] == len(window) > 0
    assert bt["frauds"] == int(window["TX_FRAUD"].sum()) > 0

    scores = pd.Series([served[f"{prefix}{i}"] for i in window["TRANSACTION_ID"]])
    fraud = window["TX_FRAUD"].to_numpy() == 1
    rules = {r["id"]: r for r in bt["policy"]["rules"]}
    assert rules["served-score"]["hits"] == int((scores >= cut).sum()) > 0
    assert rules["served-score"]["frauds"] == int(((scores >= cut).to_numpy() & fraud).sum())
    big = window["TX_AMOUNT"].to_numpy() > 120
    assert rules["big"]["hits"] == int(big.sum()) > 0
    assert rules["big"]["frauds"] == int((big & fraud).sum())

    threshold = registry.current_bundle(root).threshold
    model_alone = bt["against"]
    assert model_alone["label"] == "model alone"
    assert model_alone["alerts"] == int((scores >= threshold).sum())
    assert model_alone["frauds_caught"] == int(((scores >= threshold).to_numpy() & fraud).sum())
    assert "judged: the last 14 days whose labels are due" in result.output
    assert f"scores as served ({len(records):,} score records)" in result.output
