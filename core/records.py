"""Kafka records as plain values: what a consume loop reads and what it produces.

``InRecord`` is a consumed record without the librdkafka object (so pure code and tests never
touch ``confluent_kafka.Message``); ``OutRecord`` is one output to produce. The offset helpers
say where a batch of records starts and where to resume after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from confluent_kafka import Message, TopicPartition

from core.kafka import raise_for_message_error


@dataclass(frozen=True, slots=True)
class InRecord:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class OutRecord:
    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


def to_records(msgs: Sequence[Message]) -> list[InRecord]:
    """Consumed messages as records; error messages are raised if fatal, else skipped."""
    out = []
    for m in msgs:
        if m.error() is not None:
            raise_for_message_error(m)
            continue
        out.append(
            InRecord(
                m.topic() or "",
                m.partition() or 0,
                m.offset() or 0,
                m.timestamp()[1],
                m.key(),
                m.value(),
            )
        )
    return out


def next_offsets(records: Sequence[InRecord]) -> list[TopicPartition]:
    """The offset to resume from per partition: one past the last record of the batch."""
    last: dict[tuple[str, int], int] = {}
    for r in records:
        last[(r.topic, r.partition)] = max(last.get((r.topic, r.partition), -1), r.offset)
    return [TopicPartition(t, p, o + 1) for (t, p), o in last.items()]


def first_offsets(records: Sequence[InRecord]) -> list[TopicPartition]:
    """The first offset of the batch per partition: where a rewind goes back to."""
    first: dict[tuple[str, int], int] = {}
    for r in records:
        first.setdefault((r.topic, r.partition), r.offset)
    return [TopicPartition(t, p, o) for (t, p), o in first.items()]


def span(records: Sequence[InRecord]) -> dict[str, object]:
    """Where a batch sits, for a log line: topic, partitions, first and last offsets."""
    first = {tp.partition: tp.offset for tp in first_offsets(records)}
    last = {tp.partition: tp.offset - 1 for tp in next_offsets(records)}
    return {
        "topic": records[0].topic if records else "",
        "offsets": {p: f"{first[p]}-{last[p]}" for p in sorted(first)},
    }
