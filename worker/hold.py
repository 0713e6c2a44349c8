"""Holding input while something downstream cannot take more: Redis down, output blocked.

A held worker pauses its input partitions and keeps calling ``consume``: that serves rebalance
callbacks and counts as a poll, so the group does not evict it (``max.poll.interval.ms``), while
nothing more is fetched and memory stays bounded. A record that ``consume`` still returns (one
fetched just before the pause) is not dropped: its partition is sought back to it, so it is
fetched again after the release.

Several reasons can hold at once (``redis``, ``output``); input resumes when the last one is
released, except the partitions event-time alignment keeps paused on its own account.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from confluent_kafka import Consumer, TopicPartition

from worker.metrics import WorkerMetrics

log = logging.getLogger(__name__)


class InputHold:
    def __init__(
        self,
        consumer: Consumer,
        metrics: WorkerMetrics,
        kept_paused: Callable[[], set[int]] = set,
    ) -> None:
        self._consumer = consumer
        self._metrics = metrics
        self._kept_paused = kept_paused
        self.reasons: set[str] = set()
        self._fresh: list[TopicPartition] = []  # assigned since the last ``settle``

    @property
    def active(self) -> bool:
        return bool(self.reasons)

    def hold(self, reason: str) -> None:
        if reason in self.reasons:
            return
        if not self.reasons:
            self._consumer.pause(self._consumer.assignment())
        self.reasons.add(reason)
        self._metrics.paused.labels(reason).set(1)
        log.warning("input paused: %s", reason)

    def keepalive(self, timeout_s: float) -> None:
        """Poll the paused consumer (group membership, rebalances); rewind anything returned."""
        first: dict[tuple[str, int], int] = {}
        for m in self._consumer.consume(100, timeout_s):
            if m.error() is None:
                key = (m.topic() or "", m.partition() or 0)
                first[key] = min(first.get(key, m.offset() or 0), m.offset() or 0)
        for (topic, partition), offset in first.items():
            tp = TopicPartition(topic, partition, offset)
            self._consumer.seek(tp)
            self._consumer.pause([tp])  # e.g. a partition assigned while held

    def assigned(self, partitions: list[TopicPartition]) -> None:
        """Note partitions just assigned (from the rebalance callback); ``settle`` acts."""
        self._fresh.extend(TopicPartition(tp.topic, tp.partition) for tp in partitions)

    def settle(self) -> None:
        """Newly assigned partitions follow the hold: paused while held, else fetching.

        librdkafka keeps a partition's pause flag across losing and regaining it, so one paused
        before a rebalance would otherwise stay paused for good after it.
        """
        if not self._fresh:
            return
        fresh, self._fresh = self._fresh, []
        mine = {(tp.topic, tp.partition) for tp in self._consumer.assignment()}
        fresh = [tp for tp in fresh if (tp.topic, tp.partition) in mine]
        if not fresh:
            return
        if self.active:
            self._consumer.pause(fresh)
        else:
            self._consumer.resume(fresh)

    def release(self, reason: str) -> None:
        if reason not in self.reasons:
            return
        self.reasons.discard(reason)
        self._metrics.paused.labels(reason).set(0)
        if not self.reasons:
            kept = self._kept_paused()
            resume = [tp for tp in self._consumer.assignment() if tp.partition not in kept]
            self._consumer.resume(resume)
            log.info("input resumed (%s cleared)", reason)
