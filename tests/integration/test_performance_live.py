"""``fraudscore perf run`` on a real broker: scores and late labels in; table and alarm event out.

Four event days of one model version, six cards a day with one event each (label delay 1 day,
k = 2, the alarm pools 2 complete days against the bundle's expected precision 0.9, margin 0.1):

    card   score  alerted  label (known a day after the event)
    ca     0.9    yes      fraud
    cb     0.8    yes      -
    cc     0.7    yes      -
    cd     0.6    yes      -
    ce     0.2    no       fraud
    cf     0.1    no       -

so every day: precision 1/4, recall 1/2, AP (1 + 2/5) / 2 = 0.7, CP@2 = 1/2, coverage 2/6. Every
score record and label is produced twice (an at-least-once replay) and one record is not JSON.
The newest label (day 4 + 1 day) completes days 1-3; day 4 stays provisional. The monitor runs
through the CLI twice: the first run fires one "degraded" event, the restart says nothing new.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from typer.testing import CliRunner

from core.messages import LabelEvent, ScoreRecord
from devstack import TopicSpec, ensure_topics
from monitoring.performance.cli import app
from monitoring.performance.types import PerformanceAlarm, PerformanceSnapshot

pytestmark = pytest.mark.integration

VERSION = "vlive"
DAY1 = datetime(2025, 7, 1, 9, tzinfo=UTC)
CARDS = [("ca", 0.9, True, True), ("cb", 0.8, True, False), ("cc", 0.7, True, False)]
CARDS += [("cd", 0.6, True, False), ("ce", 0.2, False, True), ("cf", 0.1, False, False)]
DAYS = "abcd"  # letters in event ids: long digit runs are refused as possible card numbers
runner = CliRunner()


@pytest.fixture
def topics(kafka_bootstrap: str, unique_name: str) -> Iterator[dict[str, str]]:
    names = {kind: f"{unique_name}.{kind}" for kind in ("scores", "labels", "drift")}
    ensure_topics(
        kafka_bootstrap,
        [
            TopicSpec(names["scores"], 2),
            TopicSpec(names["labels"], 2),
            TopicSpec(names["drift"], 1),
        ],
    )
    yield names


def stream() -> tuple[list[ScoreRecord], list[LabelEvent]]:
    scores, labels = [], []
    for n, tag in enumerate(DAYS):
        for m, (card, value, alerted, fraud) in enumerate(CARDS):
            when = DAY1 + timedelta(days=n, minutes=m)
            event_id = f"ev{tag}{card}"
            scores.append(
                ScoreRecord(
                    event_id=event_id,
                    event_time=when,
                    customer_id=card,
                    topic="payments.transactions",
                    partition=0,
                    offset=n * 10 + m,
                    score=value,
                    model_version=VERSION,
                    alerted=alerted,
                )
            )
            if fraud:
                labels.append(
                    LabelEvent(
                        event_id=event_id,
                        event_time=when,
                        label_time=when + timedelta(days=1),
                        customer_id=card,
                        terminal_id="tx",
                        is_fraud=True,
                        source="chargeback",
                    )
                )
    return scores, labels


def produce(bootstrap: str, topics: dict[str, str]) -> int:
    scores, labels = stream()
    producer = Producer({"bootstrap.servers": bootstrap})
    for _replay in range(2):
        for s in scores:
            producer.produce(topics["scores"], key=s.customer_id, value=s.model_dump_json())
        for lab in labels:
            producer.produce(topics["labels"], key=lab.customer_id, value=lab.model_dump_json())
    producer.produce(topics["scores"], key=b"bad", value=b"{not json")
    assert producer.flush(30) == 0
    return 2 * (len(scores) + len(labels)) + 1


def write_bundle(model_dir: Path) -> None:
    folder = model_dir / "bundles" / VERSION
    folder.mkdir(parents=True)
    review = {"threshold": 0.5, "precision": 0.9, "recall": 0.6, "cards_per_day": 2.0}
    (folder / "metadata.json").write_text(json.dumps({"thresholds": {"review": review}}))
    (folder / "metrics.json").write_text(json.dumps({"card_precision_at_100": 0.3}))


def read_alarms(bootstrap: str, topic: str, group: str, quiet_s: float) -> list[PerformanceAlarm]:
    """Every event on ``topic``, reading until nothing new came for ``quiet_s`` seconds."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    events: list[PerformanceAlarm] = []
    deadline, last = time.monotonic() + 60, time.monotonic()
    try:
        while time.monotonic() < deadline and time.monotonic() - last < quiet_s:
            for msg in consumer.consume(10, timeout=1.0):
                if msg.error() is None:
                    events.append(PerformanceAlarm.model_validate_json(msg.value() or b""))
                    last = time.monotonic()
    finally:
        consumer.close()
    return events


def test_perf_run_joins_late_labels_and_raises_the_alarm_once(
    kafka_bootstrap: str, unique_name: str, topics: dict[str, str], tmp_path: Path
) -> None:
    write_bundle(tmp_path / "models")
    env = {
        "FRAUDSCORE_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "FRAUDSCORE_TOPIC_SCORES": topics["scores"],
        "FRAUDSCORE_TOPIC_LABELS": topics["labels"],
        "FRAUDSCORE_TOPIC_DRIFT": topics["drift"],
        "FRAUDSCORE_MODEL_DIR": str(tmp_path / "models"),
        "FRAUDSCORE_REPORTS_DIR": str(tmp_path / "reports"),
        "FRAUDSCORE_PERF_DB": str(tmp_path / "perf" / "performance.sqlite3"),
        "FRAUDSCORE_PERF_GROUP_ID": unique_name,
        "FRAUDSCORE_PERF_LABEL_DELAY_DAYS": "1",
        "FRAUDSCORE_PERF_BUDGET_CARDS": "2",
        "FRAUDSCORE_PERF_ALARM_DAYS": "2",
        "FRAUDSCORE_PERF_ROLLING_DAYS": "2",
        "FRAUDSCORE_PERF_RETENTION_DAYS": "10",
    }
    total = produce(kafka_bootstrap, topics)

    run = runner.invoke(app, ["run", "--max-records", str(total), "--idle-timeout", "30"], env=env)
    assert run.exit_code == 0, run.output
    assert "48 score records, 16 labels, 1 invalid, 1 evaluation(s), 1 alarm event(s)" in run.output

    shown = runner.invoke(app, ["show", "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    snap = PerformanceSnapshot.model_validate_json(shown.stdout)
    assert [(r.day, r.complete) for r in snap.rows] == [
        (date(2025, 7, n), n < 4) for n in (1, 2, 3, 4)
    ]
    for row in snap.rows:
        assert (row.model_version, row.scored, row.labelled, row.frauds, row.alerts) == (
            VERSION,
            6,
            2,
            2,
            4,
        )
        assert (row.precision, row.recall, row.card_precision, row.cp_at_k) == (
            0.25,
            0.5,
            0.25,
            0.5,
        )
        assert row.average_precision == pytest.approx(0.7)
        assert row.label_coverage == pytest.approx(1 / 3) and row.label_delay_days == 1.0
    assert snap.alarms == {VERSION: "degraded"}
    assert snap.labels_as_of == DAY1 + timedelta(days=4, minutes=4)
    assert (tmp_path / "reports" / "performance.json").is_file()
    assert "Model performance from labels" in (tmp_path / "reports" / "index.html").read_text()

    again = runner.invoke(app, ["run", "--idle-timeout", "3"], env=env)  # a restart, no news
    assert again.exit_code == 0, again.output
    assert "0 score records, 0 labels, 0 invalid, 1 evaluation(s), 0 alarm event(s)" in again.output

    [alarm] = read_alarms(kafka_bootstrap, topics["drift"], f"{unique_name}-check", quiet_s=3.0)
    assert (alarm.event, alarm.model_version, alarm.status, alarm.previous_status) == (
        "performance_alarm_changed",
        VERSION,
        "degraded",
        None,
    )
    assert (alarm.metric, alarm.observed, alarm.expected, alarm.margin) == (
        "precision",
        0.25,
        0.9,
        0.1,
    )
    assert (alarm.first_day, alarm.last_day, alarm.days, alarm.k) == (
        date(2025, 7, 2),
        date(2025, 7, 3),
        2,
        2,
    )
