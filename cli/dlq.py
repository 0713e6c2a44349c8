"""Dead letters back into the stream once their cause is fixed (``fraudscore dlq ...``).

A dead letter keeps the original bytes (PAN-like digit runs masked) and says why and where from
in its headers. There are two ways back:

1. the cause was on our side (a contract the worker now accepts, a size limit raised):
   ``replay`` reads the DLQ, decodes each record with the worker's own ``decode`` and sends the
   ones that pass back to the input topic, keyed by ``customer_id`` as producers key them; the
   rest stay where they are and are counted by reason;
2. the event itself was wrong: ``export`` writes dead letters as JSON lines, the producing team
   fixes them, and ``replay --file`` validates and sends those.

Progress is a consumer group of its own (``<group>-dlq-replay``), committed only after the
broker acknowledged every re-driven event, so running ``replay`` again sends nothing twice
(``--from-beginning`` starts over). A re-driven record carries a ``replayed-from`` header naming
the dead letter (``dlq:<partition>:<offset>``, or ``file:<line>``). The worker's features are
idempotent per event id, so an event re-driven twice anyway gets the same features and score.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from core.decode import Rejection, decode
from core.kafka import (
    DeliveryTracker,
    committed,
    consumer_config,
    producer_config,
    watermarks,
)
from core.reading import text_headers
from core.settings import Settings


class DlqError(Exception):
    """The DLQ cannot be read or the re-driven events were not acknowledged."""


@dataclass(frozen=True, slots=True)
class DeadRecord:
    """One dead letter: where it sits, its (masked) bytes and what its headers say."""

    source: str  # "dlq:<partition>:<offset>" or "file:<line>"
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]
    partition: int = -1  # in the DLQ; -1 for a file line
    offset: int = -1

    def as_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "key": self.key.decode("latin-1") if self.key is not None else None,
            "value": self.value.decode("latin-1") if self.value is not None else None,
            "headers": self.headers,
        }


@dataclass
class ReplayReport:
    read: int = 0
    sent: int = 0
    still_bad: Counter[str] = field(default_factory=Counter)


def replay_group(settings: Settings) -> str:
    return f"{settings.group_id}-dlq-replay"


def _consumer(settings: Settings) -> Consumer:
    conf = consumer_config(settings, replay_group(settings), auto_commit=False)
    conf["log_level"] = 0  # a console reports one DlqError line, not librdkafka's retries
    return Consumer(conf)


def _partitions(consumer: Consumer, topic: str, timeout_s: float = 10.0) -> list[int]:
    try:
        meta = consumer.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise DlqError(f"Kafka does not answer: {exc.args[0]}") from exc
    found = meta.topics.get(topic)
    if found is None or found.error is not None:
        raise DlqError(f"topic {topic} does not exist")
    return sorted(found.partitions)


def read_dlq(
    consumer: Consumer, topic: str, *, from_beginning: bool, limit: int | None = None
) -> Iterator[DeadRecord]:
    """Dead letters from the replay group's committed position (or the start) to the current
    end of each partition; bounded, it never waits for records that are not there yet."""
    parts = [TopicPartition(topic, p) for p in _partitions(consumer, topic)]
    starts = {tp.partition: 0 for tp in parts}
    if not from_beginning:
        for tp in committed(consumer, parts):
            starts[tp.partition] = max(tp.offset, 0)
    ends = {tp.partition: watermarks(consumer, tp)[1] for tp in parts}
    todo = {p for p in ends if ends[p] > starts[p]}
    consumer.assign([TopicPartition(topic, p, starts[p]) for p in todo])
    n = 0
    while todo and (limit is None or n < limit):
        for m in consumer.consume(500, 1.0):
            if m.error() is not None or m.partition() not in todo:
                continue
            p, offset = m.partition() or 0, m.offset() or 0
            headers = text_headers(m)
            yield DeadRecord(f"dlq:{p}:{offset}", m.key(), m.value(), headers, p, offset)
            n += 1
            if offset + 1 >= ends[p]:
                todo.discard(p)
            if limit is not None and n >= limit:
                return


def read_file(path: Path) -> Iterator[DeadRecord]:
    """Fixed events: one JSON object per line, either an ``export`` line (its ``value`` is the
    event text) or the event itself."""
    for i, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DlqError(f"{path}:{i}: not JSON ({exc.msg})") from exc
        if isinstance(obj, dict) and "value" in obj and "source" in obj:
            value = obj["value"]
            yield DeadRecord(f"file:{i}", None, value.encode() if value else None, {})
        else:
            yield DeadRecord(f"file:{i}", None, line.encode(), {})


def replay(
    settings: Settings,
    records: Iterable[DeadRecord],
    *,
    dry_run: bool = False,
    producer: Producer | None = None,
) -> ReplayReport:
    """Send every record that now passes the contract to the input topic; count the rest."""
    report = ReplayReport()
    p = producer or Producer(producer_config(settings))
    tracker = DeliveryTracker()
    for rec in records:
        report.read += 1
        result = decode(rec.value, max_bytes=settings.max_message_bytes)
        if isinstance(result, Rejection):
            report.still_bad[result.reason.split(":")[0]] += 1
            continue
        if not dry_run:
            p.produce(
                settings.topic_transactions,
                rec.value,
                result.customer_id.encode(),
                headers=[("replayed-from", rec.source.encode())],
                on_delivery=tracker,
            )
            p.poll(0)
        report.sent += 1
    if not dry_run and p.flush(30):
        raise DlqError("re-driven events were not acknowledged within 30 s; nothing committed")
    tracker.check()
    return report


def commit_read(consumer: Consumer, topic: str, records: Iterable[DeadRecord]) -> None:
    """Record how far replay got; call it only after the re-driven events were acknowledged."""
    last: dict[int, int] = {}
    for r in records:
        if r.partition >= 0:
            last[r.partition] = max(last.get(r.partition, -1), r.offset)
    if not last:
        return
    try:
        consumer.commit(
            offsets=[TopicPartition(topic, p, o + 1) for p, o in last.items()], asynchronous=False
        )
    except KafkaException as exc:
        raise DlqError(f"could not record replay progress: {exc.args[0]}") from exc


def open_reader(settings: Settings) -> Consumer:
    return _consumer(settings)
