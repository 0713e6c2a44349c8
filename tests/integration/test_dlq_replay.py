"""``fraudscore dlq`` on the real broker: dead letters are shown, re-driven once their cause is
fixed, remembered as replayed, and a fixed export file goes back in too.

The "fixed on our side" case: a worker with a 1 KiB size limit dead-letters an event padded with
JSON whitespace to 2 KiB; after the limit is raised, ``replay`` sends it back and the worker
scores it. An invalid-JSON record stays in the DLQ and is counted by reason.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from confluent_kafka import Producer
from typer.testing import CliRunner

from cli.main import app
from core.settings import Settings
from simulator.events import to_event
from tests.e2e.helpers import e2e_settings, read_all, running_worker

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def _env(monkeypatch: pytest.MonkeyPatch, s: Settings, **extra: str) -> None:
    """The CLI reads its settings from the environment, as a user's shell would give them."""
    values = {
        "KAFKA_BOOTSTRAP_SERVERS": s.kafka_bootstrap_servers,
        "GROUP_ID": s.group_id,
        "TOPIC_TRANSACTIONS": s.topic_transactions,
        "TOPIC_DLQ": s.topic_dlq,
        **extra,
    }
    for k, v in values.items():
        monkeypatch.setenv(f"FRAUDSCORE_{k}", v)


def _scored_ids(kafka: str, s: Settings) -> list[str]:
    return [json.loads(v)["event_id"] for _, v, _ in read_all(kafka, s.topic_scores) if v]


def test_dead_letters_are_replayed_once_fixed(
    kafka_bootstrap: str,
    redis_url: str,
    unique_name: str,
    e2e_dataset: pd.DataFrame,
    e2e_model_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    s = e2e_settings(kafka_bootstrap, redis_url, unique_name, e2e_model_dir, max_message_bytes=1024)
    events = [to_event(r, f"{unique_name}-") for r in e2e_dataset.head(3).to_dict("records")]
    small, padded, broken = events
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    producer.produce(s.topic_transactions, small.model_dump_json(), small.customer_id)
    # valid JSON, but 2 KiB with the padding: over this worker's 1 KiB limit
    big = small.model_dump_json().replace("{", "{" + " " * 2048, 1)
    producer.produce(s.topic_transactions, big.replace(small.event_id, padded.event_id), "c")
    producer.produce(s.topic_transactions, b'{"event_id": "' + broken.event_id.encode(), "c")
    assert producer.flush(30) == 0

    with running_worker(s, max_events=3, idle_timeout_s=20):
        pass
    assert _scored_ids(kafka_bootstrap, s) == [small.event_id]
    assert len(read_all(kafka_bootstrap, s.topic_dlq)) == 2

    runner = CliRunner()
    _env(monkeypatch, s)
    shown = runner.invoke(app, ["dlq", "show", "--json"])
    assert shown.exit_code == 0, shown.output
    reasons = sorted(json.loads(line)["headers"]["reason"] for line in shown.output.splitlines())
    assert runner.invoke(app, ["dlq", "show"]).exit_code == 0, "the table form too"
    assert reasons[0].startswith("not valid JSON") and "exceeds the limit" in reasons[1]

    # the limit is raised (the fix on our side): replay sends the padded event back
    _env(monkeypatch, s, MAX_MESSAGE_BYTES="65536")
    dry = runner.invoke(app, ["dlq", "replay", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "read 2 dead letters; would send 1" in dry.output, "a dry run sends nothing ..."
    replayed = runner.invoke(app, ["dlq", "replay"])
    assert replayed.exit_code == 0, replayed.output
    assert "read 2 dead letters; sent 1" in replayed.output, "... nor records progress"
    assert "1 still fail" in replayed.output

    again = runner.invoke(app, ["dlq", "replay"])
    assert again.exit_code == 0, again.output
    assert "read 0 dead letters; sent 0" in again.output, "progress is remembered"

    # the broken one is exported, fixed by its producer, and replayed from the file
    export = tmp_path / "dead.jsonl"
    done = runner.invoke(app, ["dlq", "export", str(export), "--from-beginning"])
    assert done.exit_code == 0, done.output
    lines = [json.loads(line) for line in export.read_text().splitlines()]
    assert len(lines) == 2 and all(line["headers"]["reason"] for line in lines)
    fixed = tmp_path / "fixed.jsonl"
    fixed.write_text(broken.model_dump_json() + "\n")
    from_file = runner.invoke(app, ["dlq", "replay", "--file", str(fixed)])
    assert from_file.exit_code == 0, from_file.output
    assert "sent 1" in from_file.output

    s_fixed = s.model_copy(update={"max_message_bytes": 65536})
    with running_worker(s_fixed, max_events=2, idle_timeout_s=20):
        pass
    assert sorted(_scored_ids(kafka_bootstrap, s)) == sorted(e.event_id for e in events)
