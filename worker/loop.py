"""The consume loop: consume, decode, enrich, score, produce, advance offsets.

One batch at a time:

1. apply the fraud labels that have arrived (terminal risk features);
2. consume a micro-batch: it closes at ``batch_max_events`` records or ``batch_max_ms`` after
   its first record (``kafka.poll_batch``);
3. split into events and dead letters; enrich the events with ONE Redis call; score them with
   the decision core (``decision.core.decide``: ONE predict call); route alerts, score records
   and samples;
4. commit through the ``Committer`` (``worker/commit.py``): outputs acknowledged, then the
   offsets stored (at-least-once, the default) or both in one Kafka transaction (exactly-once).

The worker builds nothing that talks to the network: its consumer, producer and label feed come
in as ``Clients`` (``worker.clients.clients`` builds the real ones; unit tests pass in-memory
fakes), with the store, the sources of the model, policy and lists, and the clock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import numpy as np
from confluent_kafka import Consumer, TopicPartition

from core.intake import refuse, split
from core.kafka import poll_batch
from core.messages import TransactionEvent
from core.records import InRecord, OutRecord, next_offsets, span, to_records
from core.settings import DeliveryMode, RedisFailurePolicy, Settings
from decision.core import Decisions, decide
from decision.features import degraded_for, degraded_raw, store_events
from decision.history import partial_for
from decision.model import FloatArray, ScoringModel
from decision.outputs import Origin, Routed, Topics, route
from decision.rules import Ruleset
from features.lists import ListSnapshot
from features.online import OnlineStore, StoreUnavailable
from features.refusals import Refusal
from worker.alignment import Aligner
from worker.clients import Clients, Clock
from worker.commit import (
    AtLeastOnceCommitter,
    Committer,
    Publisher,
    TransactionalCommitter,
    rewind,
)
from worker.guard import BadInputGuard, RuleFailureLog, Stopping, WorkerStats, log_dead_letters
from worker.hold import InputHold
from worker.metrics import Health, WorkerMetrics
from worker.watchdog import Watchdog

log = logging.getLogger(__name__)


class Worker:
    """One worker process's loop state: clients, model, store, guards. ``run`` is the loop."""

    def __init__(
        self,
        settings: Settings,
        clients: Clients,
        model: Callable[[], ScoringModel],
        store: OnlineStore,
        metrics: WorkerMetrics | None = None,
        health: Health | None = None,
        challenger: Callable[[], ScoringModel | None] = lambda: None,
        policy: Callable[[], Ruleset | None] = lambda: None,
        lists: Callable[[], ListSnapshot | None] = lambda: None,
        clock: Clock = time,
        watchdog: Watchdog | None = None,
    ) -> None:
        self.s = settings
        self.model = model  # called once per batch: it hot-reloads
        self.challenger = challenger  # called after it: the shadow model as of that reload
        self.policy = policy  # the rules in force, hot-reloaded too
        self.lists = lists  # the allow and block lists in force, likewise
        self.rule_failures = RuleFailureLog(clock=clock.monotonic)
        self.store = store
        self.clock = clock
        self.metrics = metrics or WorkerMetrics()
        self.health = health or Health()
        self.stats = WorkerStats()
        self.guard = BadInputGuard(settings.dlq_window, settings.dlq_max_share)
        self.topics = Topics(
            settings.topic_dlq, settings.topic_alerts, settings.topic_scores, settings.topic_samples
        )
        self.consumer, self.producer, self.labels = (
            clients.consumer,
            clients.producer,
            clients.labels,
        )
        self.aligner = Aligner(
            self.consumer, store, settings.topic_transactions, settings.alignment_ms
        )
        self.hold = InputHold(self.consumer, self.metrics, lambda: self.aligner.paused)
        self.watchdog = watchdog or Watchdog()
        self._stop = threading.Event()
        self._gone: set[tuple[str, int]] = set()  # revoked or lost during this batch's poll
        publisher = Publisher(
            self.producer, self._wait_for_output, lambda: self.hold.release("output")
        )
        self.committer: Committer
        if settings.delivery is DeliveryMode.EXACTLY_ONCE:
            self.committer = TransactionalCommitter(
                self.consumer,
                self.producer,
                publisher,
                watchdog=self.watchdog,
                backoff=lambda secs: self._stop.wait(secs),
                on_abort=self.metrics.aborted.inc,
            )
        else:
            self.committer = AtLeastOnceCommitter(self.consumer, publisher)

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
        idle_since = self.clock.monotonic()
        try:
            while not stop.is_set():
                self.health.beat()
                self.labels.drain()
                linger_s = self.s.batch_max_ms / 1000
                self._gone.clear()
                batch = poll_batch(self.consumer, self.s.batch_max_events, linger_s)
                self.hold.settle()
                records = self._drop_gone(to_records(batch))
                if not records:
                    self.producer.poll(0)
                    if self.aligner.paused:
                        self.aligner.rebalance_pauses()
                    idle = self.clock.monotonic() - idle_since
                    if idle_timeout_s is not None and idle > idle_timeout_s:
                        break
                    continue
                idle_since = self.clock.monotonic()
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
        self.committer.start()
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
                records,
                max_bytes=self.s.max_message_bytes,
                dlq_topic=self.s.topic_dlq,
                now_ms=self.clock.time() * 1000,
                max_ahead_s=self.s.max_event_ahead_s,
            )
        enriched = self._enrich([ev for _, ev in good], records)
        if enriched is None:
            return  # paused on Redis; the batch will be consumed again
        raw, degraded, refused = enriched
        if refused:  # events the store cannot take are dead letters; the batch goes on
            good, refused_dead = refuse(good, refused, self.s.topic_dlq)
            dead, raw = dead + refused_dead, np.delete(raw, list(refused), axis=0)
        events = [ev for _, ev in good]
        model = self.model()
        with m.stage_seconds.labels("score").time():
            decisions = decide(
                events,
                raw,
                model,
                top_k=self.s.reasons_top_k,
                challenger=self.challenger(),
                degraded=degraded,
                partial=None if degraded else partial_for(events, self.store.history_since),
                rules=self.policy(),
                lists=self.lists(),
            )
            origins = [Origin(r.topic, r.partition, r.offset) for r, _ in good]
            scored = route(decisions, origins, self.topics, sample_rate=self.s.sample_rate)
        with m.stage_seconds.labels("produce").time():
            if not self.committer.commit(records, dead + scored.outputs):
                return  # transaction aborted and the batch rewound: it will be read again
        log_dead_letters(dead)
        self.guard.observe(len(good), len(dead))
        self.aligner.observe(good, records)
        self.aligner.rebalance_pauses()
        self._count(records, dead, scored, decisions)

    def _drop_gone(self, records: list[InRecord]) -> list[InRecord]:
        """Records of a partition revoked while the batch was being consumed are not this
        worker's to commit: their new owner reads them from the last commit. A partition handed
        straight back is rewound to them, so they are read again as its owner."""
        if not self._gone:
            return records
        gone = [r for r in records if (r.topic, r.partition) in self._gone]
        if gone:
            log.info("dropping %d records of partitions revoked while polling", len(gone))
            rewind(self.consumer, gone)
        return [r for r in records if (r.topic, r.partition) not in self._gone]

    def _enrich(
        self, events: list[TransactionEvent], records: list[InRecord]
    ) -> tuple[FloatArray, bool, dict[int, Refusal]] | None:
        """(aggregates, defaults used?, events the store refused), or None: paused on Redis."""
        if not events:
            return degraded_raw(np.empty(0)), False, {}
        try:
            with self.metrics.stage_seconds.labels("enrich").time():
                raw, refused = self.store.enrich_checked(store_events(events))
                return raw, False, refused
        except StoreUnavailable as exc:
            self.metrics.redis_errors.inc()
            if self.s.redis_failure_policy is RedisFailurePolicy.DEGRADE:
                log.warning(
                    "Redis unavailable, scoring %d events with defaults: %s", len(events), exc
                )
                return degraded_for(events), True, {}
            self._pause_until_redis(records, exc)
            return None

    def _pause_until_redis(self, records: list[InRecord], exc: Exception) -> None:
        """Rewind the batch, hold input (group membership kept by polling), retry, resume."""
        log.warning("Redis unavailable, pausing consumption: %s", exc)
        rewind(self.consumer, records)
        self.hold.hold("redis")
        self.health.paused, self.health.redis_ok = True, False
        delay = 0.05
        while True:
            if self._stop.is_set():  # SIGTERM during the outage: the batch was rewound
                log.info("stopping while paused on Redis; the rewound batch is not committed")
                return
            self.health.beat()
            self.hold.keepalive(delay)
            self.hold.settle()
            try:
                self.store.ping()
                break
            except StoreUnavailable:
                self.metrics.redis_errors.inc()
                delay = min(delay * 2, 1.0)
        self.hold.release("redis")
        self.health.paused, self.health.redis_ok = False, True
        log.info("Redis is back")

    def _wait_for_output(self) -> None:
        """While outputs are not acknowledged: hold input, keep the membership, serve acks."""
        if self._stop.is_set():
            raise Stopping("stopping with outputs not acknowledged: this batch is not committed")
        self.hold.hold("output")
        self.health.beat()
        self.hold.keepalive(0)
        self.hold.settle()
        self.producer.poll(0.05)

    def _count(
        self, records: list[InRecord], dead: list[OutRecord], scored: Routed, d: Decisions
    ) -> None:
        self.metrics.batch(records, dead, scored, d, self.clock.time() * 1000)
        self.rule_failures.observe(d.rule_failures, d.policy_version)
        for tp in next_offsets(records):
            _, high = self.consumer.get_watermark_offsets(tp, cached=True)
            if high >= 0:
                self.metrics.lag.labels(str(tp.partition)).set(max(0, high - tp.offset))
        st = self.stats
        st.consumed += len(records)
        st.scored += len(d)
        st.alerts += scored.alerts
        st.dead_letters += len(dead)
        st.degraded += len(d) if d.degraded else 0
        st.batches += 1

    # -- rebalance and shutdown -------------------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.health.assigned = True
        self.aligner.assigned(partitions)
        self.hold.assigned(partitions)
        log.info("assigned %s", [p.partition for p in partitions])

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("revoked %s", [p.partition for p in partitions])
        self._gone.update((tp.topic, tp.partition) for tp in partitions)
        self.aligner.revoked(partitions)
        self.committer.revoked(partitions)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.warning("lost %s (no commit for lost partitions)", [p.partition for p in partitions])
        self._gone.update((tp.topic, tp.partition) for tp in partitions)
        self.aligner.revoked(partitions)
        self.committer.lost(partitions)

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
