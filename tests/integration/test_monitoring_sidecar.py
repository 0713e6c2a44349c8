"""The drift sidecar on a real broker: samples in; report files, index and a drift event out."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from confluent_kafka import Consumer, Producer
from prometheus_client import CollectorRegistry

from core.messages import Sample
from core.settings import Settings
from devstack import TopicSpec, ensure_topics
from features.registry import FEATURE_NAMES
from monitoring.drift.sidecar import run_sidecar
from monitoring.drift.store import list_reports
from monitoring.drift.summary import DriftEvent
from monitoring.errors import BrokerError

pytestmark = pytest.mark.integration

VERSION = "v-it-1"
WINDOW = 200


def reference(n: int = 1000) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({c: rng.gamma(2.0, 5.0, n) for c in FEATURE_NAMES})
    frame["score"] = rng.beta(1.0, 20.0, n)
    return frame


def produce_samples(bootstrap: str, topic: str, n: int) -> None:
    """``n`` samples whose amounts and scores are shifted, plus two records that are not."""
    rng = np.random.default_rng(1)
    t0 = datetime(2025, 7, 1, tzinfo=UTC)
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(topic, key=b"bad", value=b"{not json")
    for i in range(n):
        features = {c: float(rng.gamma(2.0, 5.0)) for c in FEATURE_NAMES}
        features["amount"] *= 4.0
        sample = Sample(
            event_id=f"e{i}",
            event_time=t0 + timedelta(seconds=i),
            model_version=VERSION,
            score=float(rng.beta(4.0, 6.0)),
            features=features,
        )
        producer.produce(topic, key=sample.event_id.encode(), value=sample.model_dump_json())
    producer.produce(topic, key=b"bad", value=b'{"event_id": 1}')
    assert producer.flush(30) == 0


def read_events(
    bootstrap: str, topic: str, group: str, timeout_s: float = 30.0
) -> list[DriftEvent]:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    events: list[DriftEvent] = []
    deadline = time.monotonic() + timeout_s
    try:
        while not events and time.monotonic() < deadline:
            for msg in consumer.consume(10, timeout=1.0):
                if msg.error() is None:
                    events.append(DriftEvent.model_validate_json(msg.value() or b""))
    finally:
        consumer.close()
    return events


@pytest.fixture
def topics(kafka_bootstrap: str, unique_name: str) -> Iterator[tuple[str, str]]:
    samples, drift = f"{unique_name}.samples", f"{unique_name}.drift"
    ensure_topics(kafka_bootstrap, [TopicSpec(samples, 2), TopicSpec(drift, 1)])
    yield samples, drift


def test_sidecar_writes_a_report_and_publishes_the_drift_status(
    kafka_bootstrap: str, unique_name: str, topics: tuple[str, str], tmp_path: Path
) -> None:
    samples_topic, drift_topic = topics
    produce_samples(kafka_bootstrap, samples_topic, WINDOW)
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_samples=samples_topic,
        topic_drift=drift_topic,
        reports_dir=tmp_path,
        drift_window=WINDOW,
    )
    ref = reference()
    registry = CollectorRegistry()

    stats = run_sidecar(
        settings,
        reference_loader=lambda v: ref if v == VERSION else None,
        max_runs=1,
        idle_timeout_s=60.0,
        interval_s=None,
        group_id=unique_name,
        registry=registry,
    )

    assert (stats.reports, stats.consumed, stats.invalid, stats.events) == (1, WINDOW, 2, 1)
    [stored] = list_reports(tmp_path)
    assert stored.html.is_file() and stored.evidently_json.is_file() and stored.json.is_file()
    assert stored.summary.model_version == VERSION and stored.summary.n_current == WINDOW
    assert "amount" in stored.summary.drifted_columns and stored.summary.score_drift.drifted
    assert stored.html.name in (tmp_path / "index.html").read_text()
    assert (
        registry.get_sample_value("fraudscore_drift_samples_dropped_total", {"reason": "invalid"})
        == 2.0
    )

    [event] = read_events(kafka_bootstrap, drift_topic, f"{unique_name}-check")
    assert (event.model_version, event.status, event.previous_status) == (VERSION, "drift", None)
    assert (tmp_path / event.report).is_file()


def test_sidecar_stops_when_idle(
    kafka_bootstrap: str, unique_name: str, topics: tuple[str, str], tmp_path: Path
) -> None:
    samples_topic, drift_topic = topics
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_samples=samples_topic,
        topic_drift=drift_topic,
        reports_dir=tmp_path,
        drift_window=WINDOW,
    )
    started = time.monotonic()
    stats = run_sidecar(
        settings, reference_loader=lambda v: None, idle_timeout_s=3.0, group_id=unique_name
    )
    assert stats.reports == stats.consumed == 0
    assert time.monotonic() - started < 30


def test_a_missing_topic_fails_at_startup(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_samples=f"{unique_name}.absent",
        topic_drift=f"{unique_name}.absent-too",
        reports_dir=tmp_path,
    )
    with pytest.raises(BrokerError, match="topic\\(s\\) missing on the broker"):
        run_sidecar(settings, reference_loader=lambda v: None, idle_timeout_s=5.0)
