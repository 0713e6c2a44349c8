"""Reading topics as a tool does: from the start (or a position) to the end as it is now.

Tools (compare, the demo, the scenario check, the DLQ commands, the benchmark) read outputs back
without joining the workers' group or committing anything; these helpers are the one copy of
that plumbing: a committing-nothing reader, end offsets, a bounded read to the end, headers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from confluent_kafka import Consumer, Message, TopicPartition

from core.kafka import watermarks
from core.kafka_errors import client_config
from core.settings import Settings


def reader(
    settings: Settings, group_id: str, *, read_committed: bool = True, quiet: bool = False
) -> Consumer:
    """A consumer that commits nothing (positions are assigned, never the group's)."""
    conf = {
        **client_config(settings),
        "group.id": group_id,
        "enable.auto.commit": False,
        # read_uncommitted: a benchmark times outputs as they are appended, committed or not
        "isolation.level": "read_committed" if read_committed else "read_uncommitted",
    }
    if quiet:
        conf["log_level"] = 0  # a console reports one line, not librdkafka's retries
    return Consumer(conf)


def partitions(consumer: Consumer, topic: str) -> list[TopicPartition]:
    meta = consumer.list_topics(topic, timeout=10).topics[topic]
    return [TopicPartition(topic, p) for p in sorted(meta.partitions)]


def end_offsets(consumer: Consumer, topics: list[str]) -> list[TopicPartition]:
    """Every partition of ``topics`` at its current end (high watermark)."""
    return [
        TopicPartition(tp.topic, tp.partition, watermarks(consumer, tp)[1])
        for topic in topics
        for tp in partitions(consumer, topic)
    ]


def read_to_end(consumer: Consumer, topic: str, timeout_s: float = 120.0) -> Iterator[Message]:
    """Every record of ``topic`` from its beginning to its end at the time of the call; stops
    early when nothing arrives for a while or ``timeout_s`` has passed (bounded, never waits for
    records that are not there)."""
    ends = {tp.partition: watermarks(consumer, tp)[1] for tp in partitions(consumer, topic)}
    consumer.assign([TopicPartition(topic, p, 0) for p in ends])
    left = {p for p, end in ends.items() if end > 0}
    deadline = time.monotonic() + timeout_s
    while left and time.monotonic() < deadline:
        msgs = consumer.consume(5000, 2.0)
        if not msgs:
            return
        for m in msgs:
            if m.error() is not None:
                continue
            yield m
            if (m.offset() or 0) + 1 >= ends[m.partition() or 0]:
                left.discard(m.partition() or 0)


def headers(m: Message) -> list[tuple[str, bytes]]:
    """A message's headers as (name, bytes) pairs, whatever form librdkafka gave them in."""
    raw = m.headers() or []
    pairs = raw.items() if isinstance(raw, dict) else raw
    return [(k, v if isinstance(v, bytes) else (v or "").encode()) for k, v in pairs]


def text_headers(m: Message) -> dict[str, str]:
    return {k: v.decode("utf-8", "replace") for k, v in headers(m)}
