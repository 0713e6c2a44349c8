"""Event-time alignment of input partitions, across every worker of the group.

The topic is keyed by customer, so customer windows only ever need one partition. Terminal
windows gather events from all partitions, but only up to ``t - label delay``. If no partition
runs more than ``bound_ms`` (< the label delay) ahead in event time of the slowest partition that
still has data, every event a terminal window needs was ingested before the event that needs it
is scored. Then features do not depend on which partition librdkafka happened to fetch first,
and a replayed backlog gets the same features as the live stream did.

Each worker publishes, per assigned partition, the event time it has reached (or "caught up")
in one Redis hash and reads everyone's back in the same round trip; partitions too far ahead
are paused until the slowest catches up. In a live stream all partitions are within seconds of
each other and nothing is ever paused.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaException, TopicPartition

from core.kafka import committed
from core.messages import TransactionEvent
from core.records import InRecord
from decision.features import event_ms
from features.online import OnlineStore, StoreUnavailable

log = logging.getLogger(__name__)

CAUGHT_UP = "up"
UNKNOWN = -(2**62)


def floor(states: Mapping[str, str]) -> int | None:
    """The slowest event time among partitions that still have data; None if all caught up."""
    times = [int(v) for v in states.values() if v != CAUGHT_UP]
    return min(times) if times else None


def too_far_ahead(mine: Mapping[int, int], slowest: int | None, bound_ms: int) -> set[int]:
    """Partitions whose event time is more than ``bound_ms`` past the slowest partition."""
    if slowest is None or slowest == UNKNOWN:
        return {p for p, t in mine.items() if slowest == UNKNOWN and t != UNKNOWN}
    return {p for p, t in mine.items() if t > slowest + bound_ms}


@dataclass
class Aligner:
    """Tracks this worker's partitions and pauses the ones that ran ahead."""

    consumer: Consumer
    store: OnlineStore
    topic: str
    bound_ms: int
    times: dict[int, int] = field(default_factory=dict)
    next_offset: dict[int, int] = field(default_factory=dict)
    paused: set[int] = field(default_factory=set)

    def assigned(self, partitions: list[TopicPartition]) -> None:
        for tp in committed(self.consumer, partitions):
            offset = tp.offset
            if offset < 0:
                try:
                    offset = self.consumer.get_watermark_offsets(tp, timeout=10, cached=False)[0]
                except KafkaException:  # unknown for now; its first event will say
                    offset = 0
            self.next_offset[tp.partition] = offset
            self.times.setdefault(tp.partition, UNKNOWN)

    def revoked(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.times.pop(tp.partition, None)
            self.next_offset.pop(tp.partition, None)
            self.paused.discard(tp.partition)

    def observe(
        self, good: list[tuple[InRecord, TransactionEvent]], records: list[InRecord]
    ) -> None:
        for rec in records:
            self.next_offset[rec.partition] = max(
                self.next_offset.get(rec.partition, 0), rec.offset + 1
            )
        for rec, ev in good:
            if rec.partition in self.times:
                self.times[rec.partition] = max(self.times[rec.partition], event_ms(ev))

    def _caught_up(self, partition: int) -> bool:
        tp = TopicPartition(self.topic, partition)
        _, high = self.consumer.get_watermark_offsets(tp, cached=True)
        if high < 0:
            try:
                _, high = self.consumer.get_watermark_offsets(tp, timeout=5, cached=False)
            except KafkaException:  # e.g. a leader moving: not known to be caught up
                return False
        return self.next_offset.get(partition, 0) >= high

    def rebalance_pauses(self) -> None:
        """Share this worker's progress, read the group's, pause/resume accordingly."""
        if not self.times:
            return
        mine = {p: CAUGHT_UP if self._caught_up(p) else str(t) for p, t in self.times.items()}
        try:
            everyone = self.store.exchange_progress(self.topic, mine)
        except StoreUnavailable as exc:
            log.warning("event-time alignment skipped: %s", exc)
            return
        active = {p: t for p, t in self.times.items() if mine[p] != CAUGHT_UP}
        ahead = too_far_ahead(active, floor(everyone), self.bound_ms)
        if ahead != self.paused:
            resume, pause = self.paused - ahead, ahead - self.paused
            if resume:
                self.consumer.resume([TopicPartition(self.topic, p) for p in resume])
            if pause:
                self.consumer.pause([TopicPartition(self.topic, p) for p in pause])
                log.info(
                    "event-time alignment: pausing partitions %s (ahead of %s)",
                    sorted(pause),
                    floor(everyone),
                )
            self.paused = ahead
