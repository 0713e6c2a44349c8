"""The feature store's history mark and the input topics' retention, on real Redis and Kafka.

A store that lost its state must be known at once (issue 18, item 2): the mark a worker's
start-up sets on a new deployment, the mark the batch script sets on a store that has none (it
was emptied), the events flagged from it, and the retention check a rebuild depends on.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

from core.messages import TransactionEvent
from core.settings import Settings
from core.topics import INPUT_RETENTION, TopicSpec, ensure_topics
from decision.history import (
    HORIZON_MS,
    claim_history,
    mark_rebuilt,
    partial_for,
    retention_warnings,
)
from features.online import History, StoreEvent
from features.open import open_store
from features.registry import DAY_MS, REACH_MS

pytestmark = pytest.mark.integration

T0 = 1_760_000_000_000  # an event time, ms


def settings_for(kafka: str, redis: str, name: str) -> Settings:
    return Settings(
        kafka_bootstrap_servers=kafka,
        redis_url=redis,
        redis_key_prefix=name,
        topic_transactions=f"{name}-tx",
        topic_labels=f"{name}-labels",
        group_id=f"{name}-workers",
    )


def wait_for(check: Callable[[], bool], timeout_s: float = 15.0) -> bool:
    """A config change reaches every broker's answer within moments, not at once."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def event_at(event_id: str, ms: int) -> TransactionEvent:
    when = datetime.fromtimestamp(ms / 1000, UTC)
    return TransactionEvent(
        event_id=event_id, event_time=when, customer_id="c", terminal_id="t", amount=1.0
    )


def events(n: int, start_ms: int) -> list[StoreEvent]:
    return [StoreEvent(f"e{i}", f"c{i % 3}", "t1", start_ms + i * 60_000, 100) for i in range(n)]


def test_a_store_without_a_mark_is_marked_at_its_first_batch(
    redis_url: str, unique_name: str, kafka_bootstrap: str
) -> None:
    store = open_store(settings_for(kafka_bootstrap, redis_url, unique_name))
    assert store.history() is None and store.history_since is None
    batch = events(5, T0)[::-1]  # the earliest event last: the mark is the batch's minimum
    store.enrich(batch)
    assert store.history() == History(T0, "first batch")
    assert store.history_since == T0
    store.enrich(events(3, T0 - DAY_MS))  # later batches leave the mark alone
    assert store.history_since == T0


def test_events_whose_windows_reach_past_the_mark_are_partial() -> None:
    times = [T0, T0 + REACH_MS - 1, T0 + REACH_MS, T0 + 2 * REACH_MS]
    evs = [event_at(f"p{i}", t) for i, t in enumerate(times)]
    assert partial_for(evs, T0).tolist() == [True, True, False, False]
    assert not partial_for(evs, 0).any(), "mark 0: the store holds every event"
    assert not partial_for(evs, None).any(), "no batch applied: nothing to say"


def test_a_new_deployment_is_marked_whole_and_a_consumed_group_without_a_mark_is_warned(
    redis_url: str, unique_name: str, kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    s = settings_for(kafka_bootstrap, redis_url, unique_name)
    ensure_topics(kafka_bootstrap, [TopicSpec(s.topic_transactions, 2)])
    store = open_store(s)
    assert claim_history(s, store) == History(0, "first start")
    store.enrich(events(2, T0))
    assert store.history_since == 0, "the script keeps a mark it finds"

    # the group consumes and commits; then Redis loses everything
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    producer.produce(s.topic_transactions, b"x", partition=0)
    assert producer.flush(10) == 0
    group = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": s.group_id})
    group.commit(offsets=[TopicPartition(s.topic_transactions, 0, 1)], asynchronous=False)
    group.close()
    emptied = open_store(s.model_copy(update={"redis_key_prefix": unique_name + "-b"}))
    with caplog.at_level(logging.WARNING, logger="decision.history"):
        assert claim_history(s, emptied) is None
    assert f"group {s.group_id} has consumed {s.topic_transactions} before" in caplog.text
    assert "fraudscore features rebuild" in caplog.text
    assert emptied.history() is None, "left for the first batch to mark"


def test_a_rebuild_never_makes_the_mark_later(redis_url: str, unique_name: str) -> None:
    store = open_store(Settings(redis_url=redis_url, redis_key_prefix=unique_name))
    store.enrich(events(1, T0))  # emptied store: marked at T0 by its first batch
    again = open_store(Settings(redis_url=redis_url, redis_key_prefix=unique_name + "-r"))
    again.enrich(events(1, T0))
    # a replay from after an emptied store's mark: whole from the replay's start (what was lost
    # before it is not back), and no longer "emptied" (a worker waiting for it must see that)
    assert mark_rebuilt(again, T0 + DAY_MS) == History(T0 + DAY_MS, "rebuild")
    assert mark_rebuilt(store, T0 - 44 * DAY_MS) == History(T0 - 44 * DAY_MS, "rebuild")
    assert mark_rebuilt(store, T0).since_ms == T0 - 44 * DAY_MS
    assert mark_rebuilt(store, 0) == History(0, "rebuild")


def test_retention_shorter_than_a_rebuild_needs_is_warned(
    kafka_bootstrap: str, redis_url: str, unique_name: str
) -> None:
    s = settings_for(kafka_bootstrap, redis_url, unique_name)
    short = {"retention.ms": str(7 * DAY_MS)}
    ensure_topics(
        kafka_bootstrap,
        [TopicSpec(s.topic_transactions, 1, config=short), TopicSpec(s.topic_labels, 1)],
    )
    warnings = retention_warnings(s)
    assert len(warnings) == 2, warnings  # the broker's default is 7 days too
    assert warnings[0].startswith(f"{s.topic_transactions} keeps 7.0 days")
    assert f"needs {HORIZON_MS // DAY_MS}" in warnings[0]
    raise_it = re.search(r"--add-config retention.ms=(\d+)", warnings[0])
    assert raise_it is not None, warnings[0]
    # what the suggested kafka-configs.sh command does, through the admin API
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    entry = ConfigEntry("retention.ms", raise_it[1], incremental_operation=AlterConfigOpType.SET)
    target = ConfigResource("topic", s.topic_transactions, incremental_configs=[entry])
    for done in admin.incremental_alter_configs([target]).values():
        done.result(timeout=30)
    assert wait_for(lambda: len(retention_warnings(s)) == 1), "the raised topic is still warned"

    kept = settings_for(kafka_bootstrap, redis_url, unique_name + "-k")
    forever = {"retention.ms": "-1"}
    ensure_topics(
        kafka_bootstrap,
        [
            TopicSpec(kept.topic_transactions, 1, config=INPUT_RETENTION),
            TopicSpec(kept.topic_labels, 1, config=forever),
        ],
    )
    assert retention_warnings(kept) == []
    missing = settings_for(kafka_bootstrap, redis_url, unique_name + "-m")
    assert all("could not read retention.ms" in w for w in retention_warnings(missing))
