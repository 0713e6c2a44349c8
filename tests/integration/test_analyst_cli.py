"""The analyst commands on the real broker: tail alerts from a unique topic, publish a label."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime

import pytest
from confluent_kafka import Producer
from typer.testing import CliRunner

from analyst import cli
from analyst.alerts import follow
from analyst.kafka import alert_values
from core.messages import Alert, LabelEvent
from core.pan import find_pans
from core.settings import Settings
from devstack import TopicSpec, ensure_topics
from tests.e2e.helpers import read_all
from tests.unit.test_analyst_alerts import make_alert

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
runner = CliRunner()
PAN = "4111111111111111"


@pytest.fixture
def alerts_topic(kafka_bootstrap: str, unique_name: str) -> str:
    topic = f"{unique_name}.alerts"
    ensure_topics(kafka_bootstrap, [TopicSpec(topic, 2)])
    return topic


def env(kafka: str, **topics: str) -> dict[str, str | None]:
    values: dict[str, str | None] = {"FRAUDSCORE_KAFKA_BOOTSTRAP_SERVERS": kafka}
    values.update({f"FRAUDSCORE_TOPIC_{k.upper()}": v for k, v in topics.items()})
    return values


def produce(kafka: str, topic: str, values: list[tuple[bytes, bytes]]) -> None:
    producer = Producer({"bootstrap.servers": kafka})
    for key, value in values:
        producer.produce(topic, value, key)
    assert producer.flush(30) == 0


def seeded(kafka: str, topic: str) -> list[Alert]:
    """Three alerts, one of them delivered twice, plus a record that is not an alert."""
    alerts = [
        make_alert(1, score=0.7),
        make_alert(2, score=0.97, tier="block", customer_id=PAN),
        make_alert(3, score=0.3),
    ]
    records = [(a.customer_id.encode(), a.model_dump_json().encode()) for a in alerts]
    produce(kafka, topic, [*records, (b"x", b"{not an alert"), records[0]])
    return alerts


def test_tail_json_from_beginning_reads_each_alert_once(
    kafka_bootstrap: str, alerts_topic: str
) -> None:
    alerts = seeded(kafka_bootstrap, alerts_topic)
    args = ["alerts", "tail", "--json", "--from-beginning", "--idle-timeout", "5"]
    result = runner.invoke(cli.app, args, env=env(kafka_bootstrap, alerts=alerts_topic))
    assert result.exit_code == 0, result.output
    shown = [Alert.model_validate_json(line) for line in result.stdout.splitlines()]
    assert sorted(a.alert_id for a in shown) == [a.alert_id for a in alerts]
    assert {a.alert_id: a for a in shown}["al-0001"] == alerts[0]
    assert "3 alert(s) shown, 1 duplicate(s) dropped, 0 filtered out, 1 unreadable" in (
        result.stderr
    )
    assert not find_pans(result.output)


def test_tail_stops_at_max(kafka_bootstrap: str, alerts_topic: str) -> None:
    seeded(kafka_bootstrap, alerts_topic)
    args = ["alerts", "tail", "--json", "--from-beginning", "--max", "2", "--idle-timeout", "30"]
    started = time.monotonic()
    result = runner.invoke(cli.app, args, env=env(kafka_bootstrap, alerts=alerts_topic))
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 2
    assert len({json.loads(line)["alert_id"] for line in result.stdout.splitlines()}) == 2
    assert time.monotonic() - started < 25, "--max ends the tail, not the idle timeout"


def test_tail_filters_on_the_real_topic(kafka_bootstrap: str, alerts_topic: str) -> None:
    seeded(kafka_bootstrap, alerts_topic)
    base = ["alerts", "tail", "--from-beginning", "--idle-timeout", "3"]
    block = runner.invoke(
        cli.app, [*base, "--json", "--tier", "block"], env=env(kafka_bootstrap, alerts=alerts_topic)
    )
    assert [json.loads(x)["alert_id"] for x in block.stdout.splitlines()] == ["al-0002"]
    table = runner.invoke(
        cli.app, [*base, "--min-score", "0.5"], env=env(kafka_bootstrap, alerts=alerts_topic)
    )
    assert table.exit_code == 0, table.output
    assert "C1" in table.stdout and "T2" in table.stdout and "C3" not in table.stdout
    assert "####" in table.stdout and not find_pans(table.output)  # the masked customer, folded


def test_tail_starts_at_the_end_by_default(kafka_bootstrap: str, alerts_topic: str) -> None:
    seeded(kafka_bootstrap, alerts_topic)
    args = ["alerts", "tail", "--json", "--idle-timeout", "3"]
    old = runner.invoke(cli.app, args, env=env(kafka_bootstrap, alerts=alerts_topic))
    assert old.exit_code == 0 and old.stdout == "", "alerts from before the start are skipped"

    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, topic_alerts=alerts_topic)
    shown: list[Alert] = []

    def tail() -> None:
        with alert_values(settings, from_beginning=False, idle_timeout_s=30) as values:
            follow(values, shown.append, max_alerts=1)

    thread = threading.Thread(target=tail, daemon=True)
    thread.start()
    n = 100
    while thread.is_alive() and n < 200:  # keep producing until the tail has seen a new one
        new = make_alert(n)
        produce(kafka_bootstrap, alerts_topic, [(b"k", new.model_dump_json().encode())])
        thread.join(0.3)
        n += 1
    thread.join(5)
    assert len(shown) == 1 and int(shown[0].alert_id.removeprefix("al-")) >= 100


def test_tail_of_a_missing_topic_is_one_red_line(kafka_bootstrap: str, unique_name: str) -> None:
    result = runner.invoke(
        cli.app,
        ["alerts", "tail", "--idle-timeout", "1"],
        env=env(kafka_bootstrap, alerts=f"{unique_name}.missing"),
    )
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: topic {unique_name}.missing does not exist on " + (
        kafka_bootstrap
    )
    assert result.stdout == ""


def test_label_is_published_keyed_by_terminal(kafka_bootstrap: str, unique_name: str) -> None:
    topic = f"{unique_name}.labels"
    ensure_topics(kafka_bootstrap, [TopicSpec(topic, 3)])
    args = ["label", "tx-1", "--fraud", "--customer", "C1", "--terminal", "T1"]
    args += ["--event-time", "2025-07-01T12:00:00+02:00", "--source", "chargeback"]
    result = runner.invoke(cli.app, args, env=env(kafka_bootstrap, labels=topic))
    assert result.exit_code == 0, result.output
    assert f"sent to {topic} (partition " in result.stdout

    ((key, value, _),) = read_all(kafka_bootstrap, topic)
    assert key == b"T1"
    label = LabelEvent.model_validate_json(value or b"")
    assert (label.event_id, label.customer_id, label.terminal_id) == ("tx-1", "C1", "T1")
    assert label.is_fraud and label.source == "chargeback"
    assert label.event_time == datetime(2025, 7, 1, 10, tzinfo=UTC)
    assert label == LabelEvent.model_validate_json(result.stdout.splitlines()[-1])


def test_label_to_a_missing_topic_is_one_red_line(kafka_bootstrap: str, unique_name: str) -> None:
    args = ["label", "tx-1", "--legit", "--customer", "C1", "--terminal", "T1"]
    args += ["--event-time", "2025-07-01T12:00:00Z"]
    result = runner.invoke(cli.app, args, env=env(kafka_bootstrap, labels=f"{unique_name}.none"))
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"error: topic {unique_name}.none does not exist on {kafka_bootstrap}"
    ]
