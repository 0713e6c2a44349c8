"""A small dataset produced to a real broker and read back: counts, keys, event-time order."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic  # the admin re-export is invisible to mypy
from typer.testing import CliRunner

from core.settings import Settings, get_settings
from simulator.cli import app
from simulator.config import SimulationConfig
from simulator.errors import ProduceError
from simulator.generate import generate
from simulator.produce import default_id_prefix, produce_stream

pytestmark = pytest.mark.integration
CFG = SimulationConfig(
    n_customers=100, n_terminals=200, n_days=14, seed=11, compromised_terminals_per_day=1.0
)


@pytest.fixture
def topics(kafka_bootstrap: str, unique_name: str) -> Iterator[tuple[str, str]]:
    """A 2-partition transactions topic and a 1-partition labels topic, deleted afterwards."""
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    tx, labels = f"{unique_name}.tx", f"{unique_name}.labels"
    new = [NewTopic(tx, num_partitions=2), NewTopic(labels, num_partitions=1)]
    for future in admin.create_topics(new, operation_timeout=30).values():
        future.result(timeout=30)
    yield tx, labels
    admin.delete_topics([tx, labels], operation_timeout=30)


def read_all(bootstrap: str, group: str, topic: str, expected: int) -> list[Any]:
    """Every record of ``topic`` from the start, until ``expected`` arrived (30 s at most)."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    out: list[Any] = []
    deadline = time.monotonic() + 30
    try:
        while len(out) < expected and time.monotonic() < deadline:
            out.extend(m for m in consumer.consume(500, timeout=1.0) if m.error() is None)
    finally:
        consumer.close()
    return out


def test_produced_stream_reads_back_in_event_time(
    kafka_bootstrap: str, unique_name: str, topics: tuple[str, str]
) -> None:
    df = generate(CFG)
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_transactions=topics[0],
        topic_labels=topics[1],
    )
    stats = produce_stream(df, settings, progress=False, label_delay_days=2)
    frauds = int(df["TX_FRAUD"].sum())
    assert (stats.transactions, stats.labels) == (len(df), frauds) and frauds > 0

    txs = read_all(kafka_bootstrap, f"{unique_name}-tx", topics[0], len(df))
    labels = read_all(kafka_bootstrap, f"{unique_name}-lb", topics[1], frauds)
    assert (len(txs), len(labels)) == (len(df), frauds)
    partition_of: dict[bytes, int] = {}
    for partition in (0, 1):
        values = [json.loads(m.value()) for m in txs if m.partition() == partition]
        times = [v["event_time"] for v in values]
        assert times == sorted(times)
    for m in txs:
        assert m.key() == json.loads(m.value())["customer_id"].encode()
        assert partition_of.setdefault(m.key(), m.partition()) == m.partition()
    label_values = [json.loads(m.value()) for m in labels]
    assert [v["label_time"] for v in label_values] == sorted(v["label_time"] for v in label_values)
    assert all(m.key() == json.loads(m.value())["terminal_id"].encode() for m in labels)
    ids = {v["event_id"] for v in label_values}
    fraud_ids = {
        f"{default_id_prefix(CFG)}{i}" for i in df.loc[df["TX_FRAUD"] == 1, "TRANSACTION_ID"]
    }
    assert ids == fraud_ids


def test_missing_topic_fails_before_sending(kafka_bootstrap: str, unique_name: str) -> None:
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_transactions=f"{unique_name}.absent",
        topic_labels=f"{unique_name}.absent-labels",
    )
    with pytest.raises(ProduceError, match="do not exist"):
        produce_stream(generate(CFG), settings, progress=False)


def test_cli_produce_with_limit_and_rate(
    kafka_bootstrap: str,
    unique_name: str,
    topics: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FRAUDSCORE_TOPIC_TRANSACTIONS", topics[0])
    monkeypatch.setenv("FRAUDSCORE_TOPIC_LABELS", topics[1])
    get_settings.cache_clear()
    data = tmp_path / "small.csv"
    runner = CliRunner()
    made = runner.invoke(app, ["simulate", "--customers", "40", "--days", "3", "--out", str(data)])
    assert made.exit_code == 0, made.output
    args = ["produce", "--data", str(data), "--limit", "200", "--rate", "2000"]
    started = time.monotonic()
    result = runner.invoke(app, [*args, "--no-labels", "--bootstrap", kafka_bootstrap])
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started >= 0.09  # 200 records at 2,000/s take 0.1 s
    assert "produced 200 transactions" in result.output
    txs = read_all(kafka_bootstrap, f"{unique_name}-cli", topics[0], 200)
    assert len(txs) == 200
    head = pd.read_csv(data).head(200)
    assert {json.loads(m.value())["event_id"].rsplit("-", 1)[1] for m in txs} == set(
        head["TRANSACTION_ID"].astype(str)
    )
