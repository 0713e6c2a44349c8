"""Pure set-up pieces of the benchmark: per-variant settings, subprocess env, input slicing."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from benchmarks.data import build_at_least, count_tx, days_for, split_at, take
from benchmarks.infra import settings_env, topic_specs, variant_settings
from core.settings import Settings
from simulator.events import Outgoing


def test_variant_settings_are_unique_and_reach_the_subprocess(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    base = Settings(kafka_bootstrap_servers="k:1", redis_url="redis://r:2/0")
    s = variant_settings(base, "bench-abc123-sat", tmp_path)
    assert (
        s.topic_transactions == "bench-abc123-sat.tx" and s.group_id == "bench-abc123-sat-workers"
    )
    assert s.redis_key_prefix == "bench-abc123-sat" and s.model_dir == tmp_path.resolve()
    for key, value in settings_env(s).items():
        monkeypatch.setenv(key, value)
    seen = Settings()  # what ``python -m cli.main worker`` reads
    for name in (
        "kafka_bootstrap_servers",
        "redis_url",
        "group_id",
        "worker_id",
        "model_dir",
        "redis_key_prefix",
        "topic_transactions",
        "topic_scores",
        "topic_labels",
    ):
        assert getattr(seen, name) == getattr(s, name), name


def test_output_topics_are_stamped_by_the_broker() -> None:
    s = variant_settings(Settings(), "bench-x-sat", Path("m"))
    specs = {spec.name: spec for spec in topic_specs(s)}
    assert specs[s.topic_scores].config == {"message.timestamp.type": "LogAppendTime"}
    assert specs[s.topic_transactions].partitions == 4
    assert not specs[s.topic_transactions].config  # inputs keep the producer's create time


def _stream() -> list[Outgoing]:
    kinds = ["transaction", "transaction", "label", "transaction", "label", "transaction"]
    return [Outgoing(k, b"k", str(i).encode()) for i, k in enumerate(kinds)]  # type: ignore[arg-type]


def test_take_keeps_labels_up_to_the_nth_transaction() -> None:
    stream = _stream()
    assert [r.value for r in take(stream, 3)] == [b"0", b"1", b"2", b"3"]
    assert take(stream, 99) == stream
    head, rest = split_at(stream, 2)
    assert count_tx(head) == 2 and head + rest == stream


def test_days_for_covers_the_events_after_the_history() -> None:
    days = days_for(customers=1000, events=60_000, history_days=30)
    assert days - 30 >= 60_000 / (1.9 * 1000)


def test_build_splits_history_from_the_replayed_stream() -> None:
    d = build_at_least(customers=60, events=400, history_days=3, seed=1)
    assert d.transactions >= 400
    first_replayed = json.loads(next(r.value for r in d.stream if r.kind == "transaction"))
    replay_start_ms = datetime.fromisoformat(first_replayed["event_time"]).timestamp() * 1000
    assert d.history and max(e.event_ms for e in d.history) < replay_start_ms
    history_ids = {e.event_id for e in d.history}
    assert all(lab.event_id in history_ids and lab.is_fraud for lab in d.history_labels)
    prefix = first_replayed["event_id"].rsplit("-", 1)[0]  # same dataset, same id prefix
    assert d.history[0].event_id.rsplit("-", 1)[0] == prefix
