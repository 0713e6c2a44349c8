"""The consume loop: consume, decode, enrich, score, produce, advance offsets.

One batch at a time (at-least-once, the default):

1. apply the fraud labels that have arrived (terminal risk features);
2. consume a micro-batch: it closes at ``batch_max_events`` records or ``batch_max_ms`` after
   its first record (``kafka.poll_batch``);
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
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)

from core.intake import split
from core.kafka import (
    DeliveryTracker,
    make_consumer,
    make_producer,
    poll_batch,
)
from core.messages import TransactionEvent
from core.records import InRecord, OutRecord, first_offsets, next_offsets, span, to_records
from core.settings import DeliveryMode, RedisFailurePolicy, Settings
from decision.core import decide
from decision.features import degraded_for, degraded_raw, store_events
from decision.model import FloatArray, ScoringModel
from decision.outputs import Origin, Routed, Topics, route
from features.online import OnlineStore, StoreUnavailable
from worker.alignment import Aligner
from worker.hold import InputHold
from worker.labels import LabelFeed
from worker.metrics import Health, WorkerMetrics
from worker.watchdog import Watchdog

log = logging.getLogger(__name__)


class Stopping(Exception):
    """The worker was asked to stop while a batch could not finish; it is not committed."""


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


OUTPUT_STALL_S = 1.0  # acknowledgements pending this long: hold input while waiting
TXN_TIMEOUT_S = 30.0  # given to librdkafka's transaction calls
TXN_STUCK_S = 2 * TXN_TIMEOUT_S  # a call still running then is stuck: see worker/watchdog.py


class Worker:
    """One worker process's state: clients, model, store, guards. ``run`` is the loop."""

    def __init__(
        self,
        settings: Settings,
        model: Callable[[], ScoringModel],
        store: OnlineStore,
        metrics: WorkerMetrics | None = None,
        health: Health | None = None,
        challenger: Callable[[], ScoringModel | None] = lambda: None,
    ) -> None:
        self.s = settings
        self.model = model  # called once per batch: it hot-reloads
        self.challenger = challenger  # called after it: the shadow model as of that reload
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
        self.labels = LabelFeed(
            make_consumer(
                settings,
                group_id=f"{settings.group_id}-labels-{settings.worker_id}",
                auto_commit=True,
            ),
            store,
            settings.topic_labels,
        )
        txid = f"fraudscore-{settings.group_id}-{settings.worker_id}" if self.eos else None
        self.producer: Producer = make_producer(settings, txid)
        self.aligner = Aligner(
            self.consumer, store, settings.topic_transactions, settings.alignment_ms
        )
        self.hold = InputHold(self.consumer, self.metrics, lambda: self.aligner.paused)
        self.watchdog = Watchdog()
        self._txn_revoked: set[tuple[str, int]] | None = None  # while a transaction is open
        self._aborts = 0  # consecutive aborted transactions: the backoff grows with them
        self._stop = threading.Event()
        self._fresh: list[TopicPartition] = []  # assigned since the last turn of the loop

    # -- the loop ---------------------------------------------------------------------------
    def run(
        self,
        stop: threading.Event,
        *,
        max_events: int | None = None,
        idle_timeout_s: float | None = None,
    ) -> WorkerStats:
        """Process batches until ``stop`` is set (SIGTERM), ``max_events`` or an idle timeout."""
        self._stop = stop
        self._start()
        idle_since = time.monotonic()
        try:
            while not stop.is_set():
                self.health.beat()
                self.labels.drain()
                linger_s = self.s.batch_max_ms / 1000
                batch = poll_batch(self.consumer, self.s.batch_max_events, linger_s)
                self._settle_assigned()
                records = to_records(batch)
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
                try:
                    self._process(records)
                except Stopping as exc:
                    log.warning("%s", exc, extra=span(records))
                    break
                except Exception:
                    log.error("batch failed; nothing past it is committed", extra=span(records))
                    raise
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
            self.producer.init_transactions(TXN_TIMEOUT_S)
        self.consumer.subscribe(
            [self.s.topic_transactions],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        self.labels.assign()
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
            good, dead = split(
                records, max_bytes=self.s.max_message_bytes, dlq_topic=self.s.topic_dlq
            )
        events = [ev for _, ev in good]
        enriched = self._enrich(events, records)
        if enriched is None:
            return  # paused on Redis; the batch will be consumed again
        raw, degraded = enriched
        model = self.model()
        with m.stage_seconds.labels("score").time():
            decisions = decide(
                events,
                raw,
                model,
                top_k=self.s.reasons_top_k,
                challenger=self.challenger(),
                degraded=degraded,
            )
            origins = [Origin(r.topic, r.partition, r.offset) for r, _ in good]
            scored = route(decisions, origins, self.topics, sample_rate=self.s.sample_rate)
        with m.stage_seconds.labels("produce").time():
            if not self._commit_batch(records, dead + scored.outputs):
                return  # transaction aborted and the batch rewound: it will be read again
        for out in dead:
            h = dict(out.headers)
            log.warning(
                "dead-lettered",
                extra={
                    "topic": h["origin_topic"].decode(),
                    "partition": int(h["origin_partition"]),
                    "offset": int(h["origin_offset"]),
                    "stage": h["stage"].decode(),
                    "reason": h["reason"].decode(),  # PAN-masked, no input values
                },
            )
        self.guard.observe(len(good), len(dead))
        self.aligner.observe(good, records)
        self.aligner.rebalance_pauses()
        self._count(records, good, dead, scored, degraded)

    def _enrich(
        self, events: list[TransactionEvent], records: list[InRecord]
    ) -> tuple[FloatArray, bool] | None:
        if not events:
            return degraded_raw(np.empty(0)), False
        try:
            with self.metrics.stage_seconds.labels("enrich").time():
                return self.store.enrich(store_events(events)), False
        except StoreUnavailable as exc:
            self.metrics.redis_errors.inc()
            if self.s.redis_failure_policy is RedisFailurePolicy.DEGRADE:
                log.warning(
                    "Redis unavailable, scoring %d events with defaults: %s", len(events), exc
                )
                return degraded_for(events), True
            self._pause_until_redis(records, exc)
            return None

    def _pause_until_redis(self, records: list[InRecord], exc: Exception) -> None:
        """Rewind the batch, hold input (group membership kept by polling), retry, resume."""
        log.warning("Redis unavailable, pausing consumption: %s", exc)
        self._rewind(records)
        self.hold.hold("redis")
        self.health.paused, self.health.redis_ok = True, False
        delay = 0.05
        while True:
            if self._stop.is_set():  # SIGTERM during the outage: the batch was rewound
                log.info("stopping while paused on Redis; the rewound batch is not committed")
                return
            self.health.beat()
            self.hold.keepalive(delay)
            self._settle_assigned()
            try:
                self.store.ping()
                break
            except StoreUnavailable:
                self.metrics.redis_errors.inc()
                delay = min(delay * 2, 1.0)
        self.hold.release("redis")
        self.health.paused, self.health.redis_ok = False, True
        log.info("Redis is back")

    def _publish(self, outputs: Sequence[OutRecord], tracker: DeliveryTracker) -> None:
        """Produce outputs and wait for every acknowledgement; raise on the first failure.

        Backpressure: while the producer's queue is full, or acknowledgements are slow (an output
        topic throttled or unavailable), input is held: nothing more is fetched and the group
        membership is kept. librdkafka reports every output within ``message.timeout.ms``, as
        delivered or failed, so the wait is bounded and a failure raises before any commit.
        """
        p = self.producer
        for out in outputs:
            while True:
                try:
                    headers: list[tuple[str, str | bytes | None]] = list(out.headers)
                    p.produce(out.topic, out.value, out.key, headers=headers, on_delivery=tracker)
                    break
                except BufferError:
                    self._wait_for_output(tracker)
        while p.flush(OUTPUT_STALL_S):
            self._wait_for_output(tracker)
        tracker.check()
        self.hold.release("output")

    def _wait_for_output(self, tracker: DeliveryTracker) -> None:
        tracker.check()
        if self._stop.is_set():
            raise Stopping("stopping with outputs not acknowledged: this batch is not committed")
        self.hold.hold("output")
        self.health.beat()
        self.hold.keepalive(0)
        self._settle_assigned()
        self.producer.poll(0.05)

    def _settle_assigned(self) -> None:
        """Newly assigned partitions follow the hold: paused while held, else fetching.

        librdkafka keeps a partition's pause flag across losing and regaining it, so one paused
        before a rebalance would otherwise stay paused for good after it.
        """
        if not self._fresh:
            return
        fresh, self._fresh = self._fresh, []
        mine = self._owned()
        fresh = [tp for tp in fresh if (tp.topic, tp.partition) in mine]
        if not fresh:
            return
        if self.hold.active:
            self.consumer.pause(fresh)
        else:
            self.consumer.resume(fresh)

    def _commit_batch(self, records: list[InRecord], outputs: list[OutRecord]) -> bool:
        """Publish the batch's outputs and commit its offsets; False when an exactly-once
        transaction was aborted (the batch is rewound and will be processed again)."""
        tracker = DeliveryTracker()
        if not self.eos:
            self._publish(outputs, tracker)
            self._store_offsets(next_offsets(records))
            return True
        p, guard = self.producer, self.watchdog.guard
        p.begin_transaction()
        self._txn_revoked = set()
        try:
            self._publish(outputs, tracker)  # may wait for a held output: not guarded
            # Waiting for held outputs polls the consumer, so a rebalance may have taken a
            # partition of this batch; its new owner reads it from the last commit, and
            # committing these offsets too would score that work twice.
            revoked = self._txn_revoked  # usually empty: then no per-record work
            if revoked and (gone := {(r.topic, r.partition) for r in records} & revoked):
                why = f"partitions {sorted(part for _, part in gone)} revoked during the batch"
                self._abort(records, why)
                return False
            with guard("send_offsets_to_transaction", TXN_STUCK_S):
                group = self.consumer.consumer_group_metadata()
                p.send_offsets_to_transaction(next_offsets(records), group, TXN_TIMEOUT_S)
            with guard("commit_transaction", TXN_STUCK_S):
                p.commit_transaction(TXN_TIMEOUT_S)
            self._aborts = 0
            return True
        except KafkaException as exc:
            err: KafkaError = exc.args[0]
            if not err.txn_requires_abort():
                raise
            self._abort(records, str(err))
            return False
        finally:
            self._txn_revoked = None

    def _abort(self, records: list[InRecord], why: str) -> None:
        """Abort the open transaction, rewind the batch, and back off a little: an error that
        persists (a broker refusing the transaction) must not turn into a busy loop."""
        log.warning("aborting transaction and rewinding: %s", why, extra=span(records))
        self.metrics.aborted.inc()
        with self.watchdog.guard("abort_transaction", TXN_STUCK_S):
            self.producer.abort_transaction(TXN_TIMEOUT_S)
        self._rewind(records)
        self._aborts += 1
        self._stop.wait(min(0.05 * 2 ** (self._aborts - 1), 2.0))

    def _store_offsets(self, offsets: list[TopicPartition]) -> None:
        """Store the batch's offsets for the partitions still ours; one revoked while its batch
        was in flight is re-read by its new owner from the last commit (at-least-once)."""
        mine = self._owned()
        kept = [tp for tp in offsets if (tp.topic, tp.partition) in mine]
        if kept:
            self.consumer.store_offsets(offsets=kept)

    def _owned(self) -> set[tuple[str, int]]:
        return {(tp.topic, tp.partition) for tp in self.consumer.assignment()}

    def _rewind(self, records: list[InRecord]) -> None:
        """Back to the batch's first offsets, so the batch is read again (a Redis outage, an
        aborted transaction: the last commit left exactly those offsets).

        Not the group's committed offsets: a partition with none yet (the group's first
        transaction) would keep its position past the batch and skip it, and asking the
        coordinator is a round trip to what may have caused the abort.
        """
        mine = self._owned()
        for tp in first_offsets(records):
            if (tp.topic, tp.partition) not in mine:
                continue
            try:
                self.consumer.seek(tp)
            except KafkaException as exc:
                # regained mid-batch and not fetching yet: it starts from the commit anyway
                log.warning("no rewind of partition %d: %s", tp.partition, exc)

    def _count(
        self,
        records: list[InRecord],
        good: Sequence[object],
        dead: list[OutRecord],
        scored: Routed,
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
        for tp in next_offsets(records):
            _, high = self.consumer.get_watermark_offsets(tp, cached=True)
            if high >= 0:
                m.lag.labels(str(tp.partition)).set(max(0, high - tp.offset))
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
        self._fresh.extend(TopicPartition(tp.topic, tp.partition) for tp in partitions)
        log.info("assigned %s", [p.partition for p in partitions])

    def _note_gone(self, partitions: list[TopicPartition]) -> None:
        if self._txn_revoked is not None:
            self._txn_revoked.update((tp.topic, tp.partition) for tp in partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("revoked %s", [p.partition for p in partitions])
        self._note_gone(partitions)
        self.aligner.revoked(partitions)
        if not self.eos:
            self._commit_stored()

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.warning("lost %s (no commit for lost partitions)", [p.partition for p in partitions])
        self._note_gone(partitions)
        self.aligner.revoked(partitions)

    def _commit_stored(self) -> None:
        try:
            self.consumer.commit(asynchronous=False)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError._NO_OFFSET:
                log.warning("commit failed: %s", exc)

    def _close(self) -> None:
        """1. flush outputs; 2. leave the group: the revoke callback commits the stored offsets
        (and librdkafka's auto-commit on unassign would too); 3. close the clients.

        No commit of our own before ``close``: after a failure (e.g. a session that timed out
        while the broker restarted) a synchronous commit can wait forever for a coordinator
        that no longer knows the member, while ``close`` handles a lost assignment itself.
        """
        self.producer.flush(10)
        self.consumer.close()
        self.labels.close()
        self.watchdog.close()
        log.info("worker %s stopped: %s", self.s.worker_id, self.stats)
