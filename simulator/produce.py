"""Replay a dataset to Kafka: transactions and their delayed labels, in event time.

The loop (:func:`produce_stream`), step by step:

1. check the broker answers and both topics exist, so a typo fails before message one;
2. for each record of ``events.event_stream``: produce it (on a full local queue, poll and retry),
   poll for delivery reports, and pace to ``rate`` if one is given;
3. flush, then raise if any delivery failed: the first error is latched by the delivery
   callback and raised at the next produce or at the flush, so a caller never reports a replay
   as done when part of it was lost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd
from confluent_kafka import KafkaError, KafkaException, Message, Producer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from core.settings import Settings
from simulator.errors import ProduceError
from simulator.events import (
    check_prefix,
    default_id_prefix,
    event_stream,
    id_prefix_for,
    stream_size,
    to_event,
    to_label,
)

__all__ = ["ProduceStats", "default_id_prefix", "produce_stream", "to_event", "to_label"]

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())  # librdkafka's retry chatter shows only if the app logs

METADATA_TIMEOUT_S = 5.0
FLUSH_TIMEOUT_S = 60.0
_PROGRESS_EVERY = 1_000
PRODUCER_CONFIG: dict[str, Any] = {
    "enable.idempotence": True,  # retries never duplicate or reorder a customer's events
    "linger.ms": 20,  # fuller batches on a fast replay; 20 ms is invisible at demo rates
    "compression.type": "lz4",  # JSON events compress ~4x, cheap on CPU
}


class ProducerLike(Protocol):
    """The part of confluent_kafka.Producer the loop uses (a fake stands in, in unit tests)."""

    def produce(
        self, topic: str, *, value: bytes, key: bytes, on_delivery: Callable[[Any, Any], None]
    ) -> None: ...
    def poll(self, timeout: float) -> int: ...
    def flush(self, timeout: float) -> int: ...
    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any: ...


@dataclass(frozen=True)
class ProduceStats:
    """What a replay delivered, and how long it took."""

    transactions: int
    labels: int
    seconds: float

    @property
    def rate(self) -> float:
        return (self.transactions + self.labels) / self.seconds if self.seconds > 0 else 0.0


class DeliveryLatch:
    """Keeps the first failed delivery; later reports cannot overwrite the root cause."""

    def __init__(self) -> None:
        self.error: str | None = None

    def __call__(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None and self.error is None:
            self.error = f"delivery to {msg.topic()} failed: {err.str()}"

    def raise_if_failed(self) -> None:
        if self.error is not None:
            raise ProduceError(self.error)


def make_producer(settings: Settings) -> Producer:
    """A producer with the shared client settings plus the replay tuning above."""
    return Producer({**settings.kafka_common(), **PRODUCER_CONFIG, "logger": log})


def check_topics(producer: ProducerLike, topics: list[str], where: str) -> None:
    """Fail at startup, with one line, when the broker is unreachable or a topic is missing."""
    try:
        metadata = producer.list_topics(timeout=METADATA_TIMEOUT_S)
    except KafkaException as exc:
        reason = exc.args[0].str() if isinstance(exc.args[0], KafkaError) else str(exc)
        raise ProduceError(f"cannot reach Kafka at {where}: {reason}") from exc
    missing = [t for t in topics if t not in metadata.topics]
    if missing:
        raise ProduceError(f"topic(s) {', '.join(missing)} do not exist on {where}")


def send(
    producer: ProducerLike, topic: str, key: bytes, value: bytes, latch: DeliveryLatch
) -> None:
    """Produce one record; a full local queue is drained by polling, never dropped."""
    latch.raise_if_failed()
    while True:
        try:
            producer.produce(topic, value=value, key=key, on_delivery=latch)
            break
        except BufferError:
            producer.poll(0.1)
    producer.poll(0)


def pace(producer: ProducerLike, started: float, sent: int, rate: float | None) -> None:
    """Wait until ``sent`` records are due at ``rate`` per second.

    The schedule is absolute from the start, so the rate holds over the run whatever one wait
    costs; ``send`` serves the delivery reports.
    """
    if rate is None:
        return
    due = started + sent / rate
    while (ahead := due - time.monotonic()) > 0:
        # sleep, not poll(ahead): librdkafka rounds a wait under 1 ms down to 0 and would spin
        time.sleep(ahead)


@contextmanager
def _progress(enabled: bool, total: int) -> Iterator[Callable[[int], None]]:
    if not enabled:
        yield lambda _n: None
        return
    columns = (TextColumn("producing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task("produce", total=total)
        yield lambda n: bar.update(task, completed=n)


def finish(producer: ProducerLike, latch: DeliveryLatch) -> None:
    """Flush and raise if anything is undelivered or failed."""
    left = producer.flush(FLUSH_TIMEOUT_S)
    latch.raise_if_failed()
    if left:
        raise ProduceError(f"{left} record(s) not delivered within {FLUSH_TIMEOUT_S:.0f} s")


def produce_stream(
    df: pd.DataFrame,
    settings: Settings,
    *,
    rate: float | None = None,
    id_prefix: str | None = None,
    with_labels: bool = True,
    limit: int | None = None,
    progress: bool = True,
    label_delay_days: float = 7,
    producer: ProducerLike | None = None,
) -> ProduceStats:
    """Replay ``df`` to the transactions topic (and labels topic) in event time.

    ``rate`` is records per second over both topics (None: as fast as the broker takes them);
    ``id_prefix`` defaults to the dataset's own (see ``events.id_prefix_for``); ``limit`` keeps
    the first transactions; ``producer`` is for tests, else one is made from ``settings``.
    """
    if rate is not None and rate <= 0:
        raise ProduceError(f"rate must be positive, got {rate}")
    max_id = int(df["TRANSACTION_ID"].max()) if len(df) else 0
    prefix = check_prefix(id_prefix if id_prefix is not None else id_prefix_for(df), max_id)
    kafka = producer if producer is not None else make_producer(settings)
    topics = {"transaction": settings.topic_transactions, "label": settings.topic_labels}
    needed = list(topics.values()) if with_labels else [topics["transaction"]]
    check_topics(kafka, needed, settings.kafka_bootstrap_servers)
    latch, counts = DeliveryLatch(), {"transaction": 0, "label": 0}
    total = stream_size(df, with_labels=with_labels, limit=limit)
    started = time.monotonic()
    with _progress(progress, total) as advance:
        stream = event_stream(
            df, prefix, with_labels=with_labels, limit=limit, delay_days=label_delay_days
        )
        for sent, record in enumerate(stream, start=1):
            send(kafka, topics[record.kind], record.key, record.value, latch)
            counts[record.kind] += 1
            pace(kafka, started, sent, rate)
            if sent % _PROGRESS_EVERY == 0 or sent == total:
                advance(sent)
        finish(kafka, latch)
    return ProduceStats(counts["transaction"], counts["label"], time.monotonic() - started)
