"""`fraudscore retrain` from real Kafka topics: simulated traffic with a concept drift and its
delayed labels go to a real broker; the retrain reads them back, beats the pre-drift champion on
the holdout, writes its report and is promoted by the gate, with the decision logged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from confluent_kafka import Producer
from typer.testing import CliRunner

from cli.main import app
from core.settings import Settings, get_settings
from devstack import TopicSpec, ensure_topics
from models import registry
from models.retrain.run import build_training_set
from models.retrain.source import from_file, from_topics
from models.train import train_model
from simulator.config import SimulationConfig
from simulator.dataset import write_dataset
from simulator.events import to_event
from simulator.generate import generate
from simulator.produce import produce_stream

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
CFG = SimulationConfig(
    n_customers=200,
    n_terminals=400,
    n_days=70,
    seed=3,
    concept_drift_day=35,
    concept_drift_per_day=1.5,
)


@pytest.fixture
def live(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Settings, pd.DataFrame, str]]:
    """The dataset on real topics of this test (with a duplicate and an undecodable record), and
    the environment `fraudscore retrain` reads its settings from."""
    tx, labels = f"{unique_name}.tx", f"{unique_name}.labels"
    ensure_topics(kafka_bootstrap, [TopicSpec(tx, 4), TopicSpec(labels, 1)])
    s = Settings(
        kafka_bootstrap_servers=kafka_bootstrap, topic_transactions=tx, topic_labels=labels
    )
    df = generate(CFG)
    prefix = f"{unique_name}-"
    produce_stream(df, s, id_prefix=prefix, progress=False)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    again = to_event(df.iloc[100].to_dict(), prefix)  # an at-least-once upstream resends
    producer.produce(tx, key=again.customer_id.encode(), value=again.model_dump_json().encode())
    producer.produce(tx, key=b"c1", value=b"{not json")
    assert producer.flush(30) == 0
    for name, value in {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "TOPIC_TRANSACTIONS": tx,
        "TOPIC_LABELS": labels,
        "MODEL_DIR": str(tmp_path / "models"),
        "REPORTS_DIR": str(tmp_path / "reports"),
        "RETRAIN_BUDGET_PER_DAY": "4",
    }.items():
        monkeypatch.setenv(f"FRAUDSCORE_{name}", value)
    get_settings.cache_clear()
    yield s, df, prefix
    get_settings.cache_clear()


def test_retrain_from_the_topics_promotes_a_candidate_that_learned_the_drift(
    live: tuple[Settings, pd.DataFrame, str], tmp_path: Path
) -> None:
    s, df, _ = live
    root = tmp_path / "models"
    old = train_model(df, train_start=CFG.start_date + timedelta(days=14), budget_per_day=4)
    champion = registry.add_bundle(root, old).version  # knows nothing of the drift (day 35)

    res = CliRunner().invoke(app, ["retrain"])
    assert res.exit_code == 0, res.output
    candidate = str(registry.current_version(root))
    assert candidate != champion and "gate: promote" in res.output
    report = json.loads((tmp_path / "reports/retrain" / candidate / "report.json").read_text())
    data, metrics = report["data"], report["metrics"]
    assert s.topic_transactions in data["source"] and data["events"] == len(df)  # dup dropped
    assert data["cutoff"] == str(df["TX_DATETIME"].max())
    late = df["TX_DATETIME"] > df["TX_DATETIME"].max() - pd.Timedelta(days=7)
    assert data["too_recent_events"] == int(late.sum())
    assert data["known_frauds"] == int(df.loc[~late, "TX_FRAUD"].sum())  # later labels not due
    cand, champ = metrics["candidate"], metrics["champion"]
    print(
        f"\nholdout {report['holdout']['first_day']}: AP champion {champ['average_precision']:.3f}"
        f" -> candidate {cand['average_precision']:.3f}; recall at review "
        f"{champ['review']['recall']:.3f} -> {cand['review']['recall']:.3f}"
    )
    assert cand["average_precision"] > champ["average_precision"] + 0.05
    entry = registry.decisions(root)[-1]
    assert (entry["action"], entry["version"], entry["previous"]) == (
        "promote",
        candidate,
        champion,
    )
    assert entry["gate"]["champion_metrics"]["average_precision"] == champ["average_precision"]


def test_the_topics_give_the_training_set_of_the_file(
    live: tuple[Settings, pd.DataFrame, str], tmp_path: Path
) -> None:
    s, df, prefix = live
    stream = from_topics(s)
    assert stream.rejected == 1 and len(stream.transactions) == len(df) + 1
    online = build_training_set(stream, days=90)
    offline = build_training_set(from_file(write_dataset(df, tmp_path / "d.parquet")), days=90)
    a = online.frame.assign(row=np.arange(len(online.frame))).set_index("TRANSACTION_ID")
    b = offline.frame.assign(row=np.arange(len(offline.frame)))
    b.index = prefix + b["TRANSACTION_ID"]
    a = a.loc[b.index]  # same events; rows with equal timestamps may come in another order
    assert (a["TX_FRAUD"].to_numpy() == b["TX_FRAUD"].to_numpy()).all()
    assert np.array_equal(online.features[a["row"]], offline.features[b["row"]])
    assert (online.cutoff, online.train_start) == (offline.cutoff, offline.train_start)
