"""The consume loop: consume, decode, enrich, score, produce, advance offsets.

One batch at a time (at-least-once, the default):

1. apply the fraud labels that have arrived (terminal risk features);
2. consume a micro-batch: it closes at ``batch_max_events`` records or ``batch_max_ms``;
3. split into events and dead letters; enrich the events with ONE Redis call; score with ONE
   predict call; route alerts, score records and samples;
4. produce every output and wait until the broker has acknowledged all of them; the first
   delivery error raises, so nothing past unfinished work is committed;
5. store the batch's offsets; librdkafka's auto-commit commits stored offsets, and we commit
   synchronously on partition revoke and before close.

In exactly-once mode, steps 4-5 are one Kafka transaction: outputs and the consumer offsets
commit together, and a ``read_committed`` reader never sees a partial batch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from confluent_kafka import (
    OFFSET_STORED,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from features.online import OnlineStore, StoreUnavailable
from worker import pipeline
from worker.alignment import Aligner
from worker.kafka import (
    DeliveryFailed,
    DeliveryTracker,
    committed,
    make_consumer,
    make_producer,
    raise_for_message_error,
)
from worker.labels import apply_label_messages
from worker.messages import TransactionEvent
from worker.metrics import Health, WorkerMetrics
from worker.pipeline import InRecord, OutRecord, ScoringModel, Topics
from worker.settings import DeliveryMode, RedisFailurePolicy, Settings

log = logging.getLogger(__name__)


class BadInputFlood(Exception):
    """Too large a share of recent input was bad: stop instead of dead-lettering everything."""


@dataclass
class WorkerStats:
    consumed: int = 0
    scored: int = 0
    alerts: int = 0
    dead_letters: int = 0
    degraded: int = 0
    batches: int = 0


class BadInputGuard:
    """Tracks the share of bad records over the last ``window`` records."""

    def __init__(self, window: int, max_share: float) -> None:
        self._recent: deque[bool] = deque(maxlen=window)
        self._max_share = max_share

    def observe(self, good: int, bad: int) -> None:
        self._recent.extend([False] * good + [True] * bad)
        if len(self._recent) == self._recent.maxlen:
            share = sum(self._recent) / len(self._recent)
            if share > self._max_share:
                raise BadInputFlood(
                    f"{share:.0%} of the last {len(self._recent)} records were bad (limit "
                    f"{self._max_share:.0%}); stopping. Inspect the dead-letter topic."
                )


def to_records(msgs: Sequence[Message]) -> list[InRecord]:
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
    first: dict[tuple[str, int], int] = {}
    for r in records:
        first.setdefault((r.topic, r.partition), r.offset)
    return [TopicPartition(t, p, o) for (t, p), o in first.items()]


def publish(
    producer: Producer,
    outputs: Sequence[OutRecord],
    tracker: DeliveryTracker,
    timeout_s: float = 30.0,
) -> None:
    """Produce outputs and wait for every acknowledgement; raise on the first failure."""
    for out in outputs:
        while True:
            try:
                producer.produce(
                    out.topic, out.value, out.key, headers=list(out.headers), on_delivery=tracker
                )
                break
            except BufferError:  # queue full: serve delivery reports, i.e. backpressure
                producer.poll(0.05)
                tracker.check()
    remaining = producer.flush(timeout_s)
    tracker.check()
    if remaining:
        raise DeliveryFailed(f"{remaining} outputs not acknowledged within {timeout_s:.0f}s")


class Worker:
    """One worker process's state: clients, model, store, guards. ``run`` is the loop."""

    def __init__(
        self,
        settings: Settings,
        model: Callable[[], ScoringModel],
        store: OnlineStore,
        metrics: WorkerMetrics | None = None,
        health: Health | None = None,
        challenger: ScoringModel | None = None,
    ) -> None:
        self.s = settings
        self.model = model
        self.challenger = challenger
        self.store = store
        self.metrics = metrics or WorkerMetrics()
        self.health = health or Health()
        self.stats = WorkerStats()
        self.guard = BadInputGuard(settings.dlq_window, settings.dlq_max_share)
        self.topics = Topics(
            settings.topic_dlq, settings.topic_alerts, settings.topic_scores, settings.topic_samples
        )
        self.eos = settings.delivery is DeliveryMode.EXACTLY_ONCE
        self.consumer: Consumer = make_consumer(settings)
        self.labels: Consumer = make_consumer(
            settings, group_id=f"{settings.group_id}-labels-{settings.worker_id}", auto_commit=True
        )
        txid = f"fraudscore-{settings.group_id}-{settings.worker_id}" if self.eos else None
        self.producer: Producer = make_producer(settings, txid)
        self.aligner = Aligner(
            self.consumer, store, settings.topic_transactions, settings.alignment_ms
        )

    # -- the loop ---------------------------------------------------------------------------
    def run(
        self,
        stop: threading.Event,
        *,
        max_events: int | None = None,
        idle_timeout_s: float | None = None,
    ) -> WorkerStats:
        """Process batches until ``stop`` is set (SIGTERM), ``max_events`` or an idle timeout."""
        self._start()
        idle_since = time.monotonic()
        try:
            while not stop.is_set():
                self.health.beat()
                self._apply_labels()
                msgs = self.consumer.consume(self.s.batch_max_events, self.s.batch_max_ms / 1000)
                records = to_records(msgs)
                if not records:
                    self.producer.poll(0)
                    if self.aligner.paused:
                        self.aligner.rebalance_pauses()
                    if (
                        idle_timeout_s is not None
                        and time.monotonic() - idle_since > idle_timeout_s
                    ):
                        break
                    continue
                idle_since = time.monotonic()
                self._process(records)
                if max_events is not None and self.stats.consumed >= max_events:
                    break
        finally:
            self._close()
        return self.stats

    def _start(self) -> None:
        self.store.ping()
        self.health.redis_ok = True
        self.health.model_loaded = True
        self.metrics.model_version.labels(self.model().version).set(1)
        if self.eos:
            self.producer.init_transactions(30)
        self.consumer.subscribe(
            [self.s.topic_transactions],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        self._assign_labels()
        log.info(
            "worker %s consuming %s (group %s, %s)",
            self.s.worker_id,
            self.s.topic_transactions,
            self.s.group_id,
            self.s.delivery.value,
        )

    def _process(self, records: list[InRecord]) -> None:
        m = self.metrics
        m.batch_size.observe(len(records))
        with m.stage_seconds.labels("decode").time():
            good, dead = pipeline.split(
                records, max_bytes=self.s.max_message_bytes, dlq_topic=self.s.topic_dlq
            )
        enriched = self._enrich(good, records)
        if enriched is None:
            return  # paused on Redis; the batch will be consumed again
        raw, degraded = enriched
        model = self.model()
        with m.stage_seconds.labels("score").time():
            x = pipeline.feature_matrix(good, raw)
            scored = pipeline.score(
                good,
                x,
                model,
                topics=self.topics,
                sample_rate=self.s.sample_rate,
                top_k=self.s.reasons_top_k,
                challenger=self.challenger,
                degraded=degraded,
            )
        with m.stage_seconds.labels("produce").time():
            self._commit_batch(records, dead + scored.outputs)
        self.guard.observe(len(good), len(dead))
        self.aligner.observe(good, records)
        self.aligner.rebalance_pauses()
        self._count(records, good, dead, scored, degraded)

    def _enrich(
        self, good: list[tuple[InRecord, TransactionEvent]], records: list[InRecord]
    ) -> tuple[pipeline.FloatArray, bool] | None:
        if not good:
            return pipeline.degraded_raw(np.empty(0)), False
        try:
            with self.metrics.stage_seconds.labels("enrich").time():
                return self.store.enrich(pipeline.store_events(good)), False
        except StoreUnavailable as exc:
            self.metrics.redis_errors.inc()
            if self.s.redis_failure_policy is RedisFailurePolicy.DEGRADE:
                log.warning(
                    "Redis unavailable, scoring %d events with defaults: %s", len(good), exc
                )
                amounts = np.array([ev.amount for _, ev in good])
                return pipeline.degraded_raw(amounts), True
            self._pause_until_redis(records, exc)
            return None

    def _pause_until_redis(self, records: list[InRecord], exc: Exception) -> None:
        """Rewind the batch, stop fetching (group membership kept by polling), retry, resume."""
        log.warning("Redis unavailable, pausing consumption: %s", exc)
        for tp in first_offsets(records):
            self.consumer.seek(tp)
        assignment = self.consumer.assignment()
        self.consumer.pause(assignment)
        self.health.paused, self.health.redis_ok = True, False
        self.metrics.paused.set(1)
        delay = 0.05
        while True:
            self.health.beat()
            self.consumer.consume(1, delay)  # serves rebalances; paused partitions return nothing
            try:
                self.store.ping()
                break
            except StoreUnavailable:
                self.metrics.redis_errors.inc()
                delay = min(delay * 2, 1.0)
        self.consumer.resume(self.consumer.assignment())
        self.aligner.paused.clear()
        self.health.paused, self.health.redis_ok = False, True
        self.metrics.paused.set(0)
        log.info("Redis is back, resuming consumption")

    def _commit_batch(self, records: list[InRecord], outputs: list[OutRecord]) -> None:
        tracker = DeliveryTracker()
        if not self.eos:
            publish(self.producer, outputs, tracker)
            self.consumer.store_offsets(offsets=next_offsets(records))
            return
        self.producer.begin_transaction()
        try:
            publish(self.producer, outputs, tracker)
            self.producer.send_offsets_to_transaction(
                next_offsets(records), self.consumer.consumer_group_metadata(), 30
            )
            self.producer.commit_transaction(30)
        except KafkaException as exc:
            err: KafkaError = exc.args[0]
            if not err.txn_requires_abort():
                raise
            log.warning("aborting transaction and rewinding: %s", err)
            self.producer.abort_transaction(30)
            self._rewind_to_committed()

    def _rewind_to_committed(self) -> None:
        for tp in committed(self.consumer, self.consumer.assignment()):
            if tp.offset >= 0:
                self.consumer.seek(tp)

    def _assign_labels(self) -> None:
        """Read every partition of the labels topic (assign, not subscribe: no rebalances)."""
        meta = self.labels.list_topics(self.s.topic_labels, timeout=10).topics[self.s.topic_labels]
        self.labels.assign(
            [TopicPartition(self.s.topic_labels, p, OFFSET_STORED) for p in meta.partitions]
        )

    def _label_position(self, tp: TopicPartition) -> int:
        pos: int = self.labels.position([tp])[0].offset
        if pos >= 0:
            return pos
        stored: int = committed(self.labels, [tp])[0].offset
        if stored >= 0:
            return stored
        low, _ = self.labels.get_watermark_offsets(tp, timeout=5, cached=False)
        return int(low)

    def _apply_labels(self) -> None:
        """Apply every label already in the labels topic before scoring the next batch.

        Each worker reads all label partitions, drained to the high watermark, so a label
        produced before a transaction is always applied before that transaction is scored: the
        same stream gives the same terminal features, whatever the consumers' relative lag.
        """
        deadline = time.monotonic() + 10
        for tp in self.labels.assignment():
            _, high = self.labels.get_watermark_offsets(tp, timeout=5, cached=False)
            while (pos := self._label_position(tp)) < high and time.monotonic() < deadline:
                # Ask for exactly what is missing: consume() returns as soon as it has them,
                # instead of waiting out its timeout for a full 500.
                msgs = self.labels.consume(min(500, high - pos), 0.2)
                if msgs:
                    apply_label_messages(self.store, msgs)
                    self.labels.store_offsets(offsets=next_offsets(to_records(msgs)))

    def _count(
        self,
        records: list[InRecord],
        good: Sequence[object],
        dead: list[OutRecord],
        scored: pipeline.Scored,
        degraded: bool,
    ) -> None:
        m, st = self.metrics, self.stats
        m.events_in.inc(len(records))
        m.events_scored.inc(len(good))
        m.samples.inc(scored.sampled)
        if degraded:
            m.degraded.inc(len(good))
            st.degraded += len(good)
        for out in dead:
            stage = dict(out.headers).get("stage", b"?").decode()
            m.dead_letters.labels(stage).inc()
        m.alerts.labels("any").inc(scored.alerts)
        now_ms = time.time() * 1000
        for r in records:
            if r.timestamp_ms > 0:
                m.event_to_score_seconds.observe(max(0.0, now_ms - r.timestamp_ms) / 1000)
        st.consumed += len(records)
        st.scored += len(good)
        st.alerts += scored.alerts
        st.dead_letters += len(dead)
        st.batches += 1

    # -- rebalance and shutdown -------------------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.health.assigned = True
        self.aligner.assigned(partitions)
        log.info("assigned %s", [p.partition for p in partitions])

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("revoked %s", [p.partition for p in partitions])
        self.aligner.revoked(partitions)
        if not self.eos:
            self._commit_stored()

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.warning("lost %s (no commit for lost partitions)", [p.partition for p in partitions])
        self.aligner.revoked(partitions)

    def _commit_stored(self) -> None:
        try:
            self.consumer.commit(asynchronous=False)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError._NO_OFFSET:
                log.warning("commit failed: %s", exc)

    def _close(self) -> None:
        """1. flush outputs; 2. commit stored offsets; 3. leave the group; 4. close clients."""
        self.producer.flush(10)
        if not self.eos:
            self._commit_stored()
        self.consumer.close()
        self.labels.close()
        log.info("worker %s stopped: %s", self.s.worker_id, self.stats)
