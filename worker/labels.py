"""Fraud labels (``fraud.labels``) into the online store's terminal fraud sets.

Labels are idempotent per event id (a set member), so a label consumed twice changes nothing. A
label that does not validate is logged without its content and skipped: labels are feedback,
and one bad label must not stop scoring.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition

from core.kafka import committed
from decision.features import parse_labels
from features.online import OnlineStore, StoreUnavailable

log = logging.getLogger(__name__)


def apply_label_messages(store: OnlineStore, msgs: Sequence[Message]) -> int:
    labels = parse_labels([m.value() for m in msgs if m.error() is None])
    store.apply_labels(labels)
    return len(labels)


class LabelFeed:
    """Every partition of the labels topic, drained before each batch is scored.

    Each worker reads all label partitions (``assign``, not ``subscribe``: no rebalances), so a
    label on the broker before a transaction is applied before that transaction is scored,
    whatever the consumers' relative lag: the same stream gives the same terminal features.

    "On the broker" is judged by the high watermark librdkafka caches from its fetch responses.
    The label consumer long-polls its partitions in the background, so a newly appended label
    moves that cached watermark within one fetch round trip; asking the broker afresh per batch
    (``cached=False``) cost two round trips per batch and was the loop's second-largest stage
    at 2,000 events/s. Positions are tracked here, so an empty labels topic costs nothing.
    """

    def __init__(self, consumer: Consumer, store: OnlineStore, topic: str) -> None:
        self._consumer, self._store, self._topic = consumer, store, topic
        self._start: dict[int, int] = {}

    def assign(self) -> None:
        """Start each partition at the group's committed offset, else at its beginning."""
        meta = self._consumer.list_topics(self._topic, timeout=10).topics[self._topic]
        parts = [TopicPartition(self._topic, p) for p in meta.partitions]
        start: list[TopicPartition] = []
        for tp in committed(self._consumer, parts):
            # no commit yet: from the beginning (a fresh topic may have no leader to ask yet)
            offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
            self._start[tp.partition] = max(tp.offset, 0)
            start.append(TopicPartition(self._topic, tp.partition, offset))
        self._consumer.assign(start)

    def _position(self, tp: TopicPartition) -> int:
        """Next offset to read: librdkafka's position once it has one (it steps over
        transaction markers), else where ``assign`` started the partition."""
        pos: int = self._consumer.position([tp])[0].offset
        return pos if pos >= 0 else self._start[tp.partition]

    def _high(self, tp: TopicPartition) -> int:
        _, high = self._consumer.get_watermark_offsets(tp, cached=True)
        if high < 0:  # no fetch response yet: ask the broker
            try:
                _, high = self._consumer.get_watermark_offsets(tp, timeout=5, cached=False)
            except KafkaException as exc:  # e.g. a leader moving: try again next batch
                log.info("labels partition %s: end offset unknown (%s)", tp.partition, exc)
                return -1
        return int(high)

    def drain(self, budget_s: float = 10.0) -> int:
        """Apply every label up to the high watermarks; the number applied."""
        deadline, applied = time.monotonic() + budget_s, 0
        for p in self._start:
            tp = TopicPartition(self._topic, p)
            high = self._high(tp)
            while (pos := self._position(tp)) < high and time.monotonic() < deadline:
                # Ask for exactly what is missing: consume() returns as soon as it has them.
                msgs = self._consumer.consume(min(500, high - pos), 0.2)
                if not msgs:
                    continue
                try:
                    applied += apply_label_messages(self._store, msgs)
                except StoreUnavailable as exc:
                    # Redis is down: read these labels again next time; the batch's own Redis
                    # call meets the outage too and the failure policy (pause/degrade) applies.
                    for tp in _first_offsets(msgs):
                        self._consumer.seek(tp)
                    log.warning("labels not applied, Redis unavailable: %s", exc)
                    return applied
                self._consumer.store_offsets(offsets=_next_offsets(msgs))
        return applied

    def close(self) -> None:
        self._consumer.close()


def _first_offsets(msgs: Sequence[Message]) -> list[TopicPartition]:
    first: dict[tuple[str, int], int] = {}
    for m in msgs:
        if m.error() is None:
            key = (m.topic() or "", m.partition() or 0)
            first[key] = min(first.get(key, m.offset() or 0), m.offset() or 0)
    return [TopicPartition(t, p, o) for (t, p), o in first.items()]


def _next_offsets(msgs: Sequence[Message]) -> list[TopicPartition]:
    last: dict[tuple[str, int], int] = {}
    for m in msgs:
        if m.error() is None:
            key = (m.topic() or "", m.partition() or 0)
            last[key] = max(last.get(key, -1), m.offset() or 0)
    return [TopicPartition(t, p, o + 1) for (t, p), o in last.items()]
