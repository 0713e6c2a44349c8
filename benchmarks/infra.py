"""Kafka and Redis edges of the benchmark: names, topics, input loading, output reading, cleanup.

Every variant gets its own topics, consumer group and Redis key prefix (``variant``), so runs
never see each other's data and a second run needs no reset; both are removed afterwards unless
asked to keep them. Output topics use ``LogAppendTime``: an output's timestamp is when the broker
appended it, the moment it became visible downstream, which is what latency is measured to.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import redis
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from benchmarks.stats import Position
from core.kafka import DeliveryTracker
from core.reading import partitions, reader
from core.settings import Settings
from devstack import TopicError, TopicSpec, ensure_topics
from features.online import OnlineStore, StoreEvent, StoreLabel
from features.redis_client import connect
from simulator.events import Outgoing

log = logging.getLogger(__name__)

LOG_APPEND = {"message.timestamp.type": "LogAppendTime"}
TIMESTAMP_LOG_APPEND_TIME = 2  # confluent_kafka.TIMESTAMP_LOG_APPEND_TIME
_QUIET = {"log_level": 0}  # a down broker is reported once by us, not every second by librdkafka


class BenchError(Exception):
    """Something the user can fix stopped the benchmark; the message says what."""


def variant_settings(base: Settings, name: str, model_dir: Path) -> Settings:
    """``base`` with topics, group, worker id and Redis prefix of this variant alone."""
    return base.model_copy(
        update={
            "group_id": f"{name}-workers",
            "worker_id": f"{name}-w1",
            "redis_key_prefix": name,
            "model_dir": model_dir.resolve(),
            "topic_transactions": f"{name}.tx",
            "topic_dlq": f"{name}.dlq",
            "topic_alerts": f"{name}.alerts",
            "topic_scores": f"{name}.scores",
            "topic_samples": f"{name}.samples",
            "topic_labels": f"{name}.labels",
            "topic_drift": f"{name}.drift",
        }
    )


_ENV_FIELDS = (
    "kafka_bootstrap_servers",
    "redis_url",
    "group_id",
    "worker_id",
    "redis_key_prefix",
    "model_dir",
    "topic_transactions",
    "topic_dlq",
    "topic_alerts",
    "topic_scores",
    "topic_samples",
    "topic_labels",
    "topic_drift",
)


def settings_env(s: Settings) -> dict[str, str]:
    """The FRAUDSCORE_* variables that give a worker subprocess these settings."""
    return {f"FRAUDSCORE_{name.upper()}": str(getattr(s, name)) for name in _ENV_FIELDS}


def topic_specs(s: Settings) -> list[TopicSpec]:
    """The worker's topics with the default partition counts; outputs stamped by the broker."""
    return [
        TopicSpec(s.topic_transactions, 4),
        TopicSpec(s.topic_labels, 1),
        TopicSpec(s.topic_scores, 4, config=LOG_APPEND),
        TopicSpec(s.topic_alerts, 4, config=LOG_APPEND),
        TopicSpec(s.topic_dlq, 1),
        TopicSpec(s.topic_samples, 1),
        TopicSpec(s.topic_drift, 1),
    ]


def check_kafka(s: Settings) -> None:
    admin = AdminClient({**s.kafka_common(), **_QUIET})
    try:
        admin.list_topics(timeout=5)
    except KafkaException as exc:
        reason = exc.args[0].str() if isinstance(exc.args[0], KafkaError) else str(exc)
        raise BenchError(
            f"Kafka at {s.kafka_bootstrap_servers} does not answer ({reason}); start it "
            "(`fraudscore services up`) or set FRAUDSCORE_KAFKA_BOOTSTRAP_SERVERS"
        ) from exc


def redis_client(s: Settings, timeout_ms: int = 10_000) -> redis.Redis:
    """A client for set-up and clean-up: large batches, so a generous timeout."""
    password = s.redis_password.get_secret_value() if s.redis_password else None
    return connect(
        s.redis_url,
        username=s.redis_username,
        password=password,
        socket_timeout_ms=timeout_ms,
        connect_timeout_ms=1000,
        retries=1,
    )


def check_redis(s: Settings) -> str:
    """Redis's server version; one clear line if it does not answer."""
    try:
        info = redis_client(s, timeout_ms=2000).info("server")
    except redis.RedisError as exc:
        raise BenchError(
            f"Redis at {s.redis_url} does not answer ({exc}); start it "
            "(`fraudscore services up`) or set FRAUDSCORE_REDIS_URL"
        ) from exc
    return str(info.get("redis_version", "unknown"))


def delete_topics(s: Settings, names: Sequence[str]) -> None:
    """Best effort: a topic left behind is harmless (unique name), so failures only log."""
    admin = AdminClient({**s.kafka_common(), **_QUIET})
    for name, future in admin.delete_topics(list(names), operation_timeout=30).items():
        try:
            future.result()
        except KafkaException as exc:
            log.warning("could not delete topic %s: %s", name, exc)


def clear_keys(s: Settings, prefix: str) -> int:
    """Delete every Redis key starting with ``prefix``; the number deleted.

    One SCAN over the whole keyspace (shared with other users, so it can be large): run it once
    per benchmark, for the run's common prefix, not once per variant.
    """
    client = redis_client(s)
    deleted, batch = 0, []
    for key in client.scan_iter(match=f"{prefix}*", count=10_000):
        batch.append(key)
        if len(batch) >= 1000:
            deleted += int(client.unlink(*batch))
            batch = []
    if batch:
        deleted += int(client.unlink(*batch))
    return deleted


@contextmanager
def variant(base: Settings, name: str, model_dir: Path, *, keep: bool) -> Iterator[Settings]:
    """Create this variant's topics; on exit delete them unless ``keep`` (Redis keys: see
    ``clear_keys``)."""
    s = variant_settings(base, name, model_dir)
    specs = topic_specs(s)
    try:
        ensure_topics(s.kafka_bootstrap_servers, specs)
    except TopicError as exc:
        raise BenchError(str(exc)) from exc
    try:
        yield s
    finally:
        if not keep:
            delete_topics(s, [spec.name for spec in specs])


def seed_history(
    s: Settings, events: Sequence[StoreEvent], labels: Sequence[StoreLabel], batch: int = 2000
) -> None:
    """Fill the windows with the days before the measured events, as a worker would have.

    Without history every customer set starts empty, which makes Redis look cheaper than it is
    (its cost grows with the events in the 30-day window).
    """
    store = OnlineStore(
        redis_client(s), prefix=s.redis_key_prefix, cache_ttl_s=s.feature_cache_ttl_s
    )
    for lo in range(0, len(events), batch):
        store.enrich(events[lo : lo + batch])
    store.apply_labels(labels)


def producer(s: Settings, linger_ms: int) -> Producer:
    return Producer(
        {
            **s.kafka_common(),
            "enable.idempotence": True,  # no duplicate inputs on a retry
            "linger.ms": linger_ms,
            "compression.type": "lz4",
        }
    )


def send(p: Producer, s: Settings, rec: Outgoing, tracker: Callable[..., None]) -> None:
    """Produce one simulated record to its topic; a full local queue is served, never dropped."""
    topic = s.topic_transactions if rec.kind == "transaction" else s.topic_labels
    while True:
        try:
            p.produce(topic, rec.value, rec.key, on_delivery=tracker)
            return
        except BufferError:
            p.poll(0.05)


def load_input(
    s: Settings, records: Sequence[Outgoing], advance: Callable[[int], None] | None = None
) -> None:
    """Pre-load a backlog: every record acknowledged before this returns."""
    p, tracker = producer(s, linger_ms=20), DeliveryTracker()
    for i, rec in enumerate(records, 1):
        send(p, s, rec, tracker)
        if i % 2000 == 0:
            p.poll(0)
            tracker.check()
            if advance:
                advance(i)
    left = p.flush(60)
    tracker.check()
    if left:
        raise BenchError(f"{left} input records not acknowledged by {s.kafka_bootstrap_servers}")
    if advance:
        advance(len(records))


@dataclass(frozen=True, slots=True)
class OutMsg:
    partition: int
    offset: int
    timestamp_ms: int
    log_append: bool  # False: the producer's create time
    value: bytes


def _reader(s: Settings, topic: str) -> tuple[Consumer, list[TopicPartition]]:
    c = reader(s, f"{topic}-reader", read_committed=False)
    return c, [TopicPartition(topic, tp.partition, 0) for tp in partitions(c, topic)]


class RecordCounter:
    """How many records a topic holds now (sum of its high watermarks); ``close`` when done."""

    def __init__(self, s: Settings, topic: str) -> None:
        self._c, self._parts = _reader(s, topic)

    def __call__(self) -> int:
        return sum(
            self._c.get_watermark_offsets(tp, timeout=5, cached=False)[1] for tp in self._parts
        )

    def close(self) -> None:
        self._c.close()


def read_topic(s: Settings, topic: str, timeout_s: float = 120.0) -> list[OutMsg]:
    """Every record of ``topic`` up to its end at the time of the call."""
    c, parts = _reader(s, topic)
    try:
        ends = {tp.partition: c.get_watermark_offsets(tp, timeout=10)[1] for tp in parts}
        c.assign(parts)
        out: list[OutMsg] = []
        done = {p for p, end in ends.items() if end == 0}
        deadline = time.monotonic() + timeout_s
        while len(done) < len(parts) and time.monotonic() < deadline:
            for m in c.consume(5000, 0.5):
                if m.error() is not None:
                    continue
                kind, ts = m.timestamp()
                part, offset = m.partition() or 0, m.offset() or 0
                log_append = kind == TIMESTAMP_LOG_APPEND_TIME
                out.append(OutMsg(part, offset, ts, log_append, m.value() or b""))
                if offset + 1 >= ends[part]:
                    done.add(part)
        return out
    finally:
        c.close()


def score_times(s: Settings) -> tuple[list[int], list[tuple[Position, int]], int]:
    """From the scores topic: each input's first score time, every (input position, score time)
    pair, and how many score records were duplicates (at-least-once redelivery)."""
    outs = read_topic(s, s.topic_scores)
    pairs: list[tuple[Position, int]] = []
    first: dict[Position, int] = {}
    for o in outs:
        rec: dict[str, Any] = orjson.loads(o.value)
        pos = (int(rec["partition"]), int(rec["offset"]))
        pairs.append((pos, o.timestamp_ms))
        first[pos] = min(first.get(pos, o.timestamp_ms), o.timestamp_ms)
    return list(first.values()), pairs, len(outs) - len(first)
