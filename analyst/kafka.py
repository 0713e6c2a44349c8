"""The analyst tools' only contact with Kafka: read the alerts topic, publish one label.

Both start by listing the cluster's topics (bounded by a timeout), so an unreachable broker or
a missing topic is one clear ``BrokerError`` instead of a silent wait. librdkafka errors are
wrapped here, once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from analyst.errors import BrokerError
from core.messages import LabelEvent
from core.settings import Settings

METADATA_TIMEOUT_S = 10.0


def _partitions(client: Consumer | Producer, settings: Settings, topic: str) -> list[int]:
    """Partitions of ``topic``. Lists every topic rather than asking for this one: a metadata
    request naming a topic can auto-create it on brokers that allow that."""
    try:
        meta = client.list_topics(timeout=METADATA_TIMEOUT_S)
    except KafkaException as exc:
        raise BrokerError(
            f"Kafka at {settings.kafka_bootstrap_servers} does not answer ({_reason(exc)}); "
            "start it or set FRAUDSCORE_KAFKA_BOOTSTRAP_SERVERS"
        ) from exc
    found = meta.topics.get(topic)
    if found is None or found.error is not None:
        raise BrokerError(f"topic {topic} does not exist on {settings.kafka_bootstrap_servers}")
    return sorted(found.partitions)


def _reason(exc: KafkaException) -> str:
    err = exc.args[0] if exc.args else None
    return err.str() if isinstance(err, KafkaError) else str(exc)


def _quiet(conf: dict[str, Any]) -> dict[str, Any]:
    # librdkafka logs each failed connect to stderr; a console reports one BrokerError line
    conf["log_level"] = 0
    return conf


def tail_config(settings: Settings) -> dict[str, Any]:
    conf = settings.kafka_common()
    conf.update(
        {
            # required by librdkafka; partitions are assigned, so no group is joined or committed
            "group.id": f"fraudscore-analyst-{uuid4().hex[:12]}",
            "enable.auto.commit": False,  # a console reads; it never moves anyone's offsets
            # librdkafka's default, stated: an aborted exactly-once batch's alert is never shown
            "isolation.level": "read_committed",
            "fetch.wait.max.ms": 100,  # a console wants alerts now, not after 500 ms
        }
    )
    return _quiet(conf)


@contextmanager
def alert_values(
    settings: Settings, *, from_beginning: bool, idle_timeout_s: float | None
) -> Iterator[Iterator[bytes | None]]:
    """Record values of every partition of the alerts topic, from its end (or beginning).

    The iterator ends after ``idle_timeout_s`` without a record (None: runs until interrupted);
    the consumer is closed when the ``with`` block ends.
    """
    consumer = Consumer(tail_config(settings))
    try:
        topic = settings.topic_alerts
        start = OFFSET_BEGINNING if from_beginning else OFFSET_END
        parts = _partitions(consumer, settings, topic)
        consumer.assign([TopicPartition(topic, p, start) for p in parts])
        yield _poll(consumer, idle_timeout_s)
    finally:
        consumer.close()


def _poll(consumer: Consumer, idle_timeout_s: float | None) -> Iterator[bytes | None]:
    idle_since = time.monotonic()
    while True:
        msgs: list[Message] = consumer.consume(500, 0.25)
        if not msgs:
            if idle_timeout_s is not None and time.monotonic() - idle_since > idle_timeout_s:
                return
            continue
        idle_since = time.monotonic()
        for m in msgs:
            err: KafkaError | None = m.error()
            if err is None:
                yield m.value()
            elif err.fatal():
                raise BrokerError(f"reading alerts failed: {err.str()}")


@dataclass(frozen=True, slots=True)
class Delivered:
    topic: str
    partition: int
    offset: int


def label_producer_config(settings: Settings, timeout_s: float) -> dict[str, Any]:
    conf = settings.kafka_common()
    conf.update(
        {
            "acks": "all",  # "sent" means the in-sync replicas have the label
            "enable.idempotence": True,  # a retried send is not filed twice by the broker
            # give up after the command's budget, not librdkafka's default of five minutes
            "message.timeout.ms": int(timeout_s * 1000),
        }
    )
    return _quiet(conf)


def publish_label(settings: Settings, label: LabelEvent, *, timeout_s: float = 15.0) -> Delivered:
    """Produce the label keyed by terminal id and wait for the broker's acknowledgement."""
    producer = Producer(label_producer_config(settings, timeout_s))
    topic = settings.topic_labels
    _partitions(producer, settings, topic)
    result: list[tuple[KafkaError | None, Message]] = []
    try:
        producer.produce(
            topic,
            label.model_dump_json().encode(),
            label.terminal_id.encode(),
            on_delivery=lambda err, msg: result.append((err, msg)),
        )
    except (KafkaException, BufferError) as exc:
        raise BrokerError(f"could not send the label to {topic}: {exc}") from exc
    remaining = producer.flush(timeout_s + 5)
    if remaining or not result:
        raise BrokerError(f"the label was not acknowledged by {topic} within {timeout_s:.0f}s")
    err, msg = result[0]
    if err is not None:
        raise BrokerError(f"the label was not acknowledged by {topic}: {err.str()}")
    return Delivered(topic, msg.partition() or 0, msg.offset() or 0)
