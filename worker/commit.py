"""How a batch's outputs and offsets become durable: at-least-once or one Kafka transaction.

Both commit paths share ``Publisher``: produce every output and wait until the broker has
acknowledged all of them; the first delivery error raises, so nothing past unfinished work is
committed. Then:

- ``AtLeastOnceCommitter`` stores the batch's offsets; librdkafka's auto-commit commits stored
  offsets, and a synchronous commit runs when partitions are revoked;
- ``TransactionalCommitter`` wraps outputs and offsets in one transaction: a ``read_committed``
  reader never sees a partial batch, and an aborted batch is rewound and read again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from core.kafka import DeliveryTracker
from core.records import InRecord, OutRecord, first_offsets, next_offsets, span
from worker.watchdog import Watchdog

log = logging.getLogger(__name__)

OUTPUT_STALL_S = 1.0  # acknowledgements pending this long: hold input while waiting
TXN_TIMEOUT_S = 30.0  # given to librdkafka's transaction calls
TXN_ATTEMPTS = 3  # a retriable commit or abort is made this many times before giving up
TXN_STUCK_S = 2 * TXN_TIMEOUT_S  # a call still running then is stuck: see worker/watchdog.py


def owned(consumer: Consumer) -> set[tuple[str, int]]:
    return {(tp.topic, tp.partition) for tp in consumer.assignment()}


def rewind(consumer: Consumer, records: Sequence[InRecord]) -> None:
    """Back to the batch's first offsets, so the batch is read again (a Redis outage, an
    aborted transaction: the last commit left exactly those offsets).

    Not the group's committed offsets: a partition with none yet (the group's first
    transaction) would keep its position past the batch and skip it, and asking the
    coordinator is a round trip to what may have caused the abort.
    """
    mine = owned(consumer)
    for tp in first_offsets(records):
        if (tp.topic, tp.partition) not in mine:
            continue
        try:
            consumer.seek(tp)
        except KafkaException as exc:
            # regained mid-batch and not fetching yet: it starts from the commit anyway
            log.warning("no rewind of partition %d: %s", tp.partition, exc)


class Publisher:
    """Produces outputs and waits for every acknowledgement; raises on the first failure.

    Backpressure: while the producer's queue is full, or acknowledgements are slow (an output
    topic throttled or unavailable), ``wait`` runs: the loop holds input there (nothing more is
    fetched, the group membership is kept) and may raise to give up. librdkafka reports every
    output within ``message.timeout.ms``, as delivered or failed, so the wait is bounded and a
    failure raises before any commit. ``released`` runs once everything is acknowledged.
    """

    def __init__(
        self,
        producer: Producer,
        wait: Callable[[], None],
        released: Callable[[], None] = lambda: None,
    ) -> None:
        self._producer, self._wait, self._released = producer, wait, released

    def publish(self, outputs: Sequence[OutRecord]) -> None:
        p, tracker = self._producer, DeliveryTracker()
        for out in outputs:
            while True:
                try:
                    headers: list[tuple[str, str | bytes | None]] = list(out.headers)
                    p.produce(out.topic, out.value, out.key, headers=headers, on_delivery=tracker)
                    break
                except BufferError:
                    tracker.check()
                    self._wait()
        while p.flush(OUTPUT_STALL_S):
            tracker.check()
            self._wait()
        tracker.check()
        self._released()


class Committer(Protocol):
    """Makes one batch's outputs and offsets durable; told about rebalances."""

    def start(self) -> None: ...

    def commit(self, records: Sequence[InRecord], outputs: Sequence[OutRecord]) -> bool:
        """True when committed; False when the batch was rewound and will be read again."""
        ...

    def revoked(self, partitions: Sequence[TopicPartition]) -> None: ...

    def lost(self, partitions: Sequence[TopicPartition]) -> None: ...


class AtLeastOnceCommitter:
    """Outputs acknowledged, then the offsets stored for librdkafka's auto-commit."""

    def __init__(self, consumer: Consumer, publisher: Publisher) -> None:
        self._consumer, self._publisher = consumer, publisher

    def start(self) -> None:
        pass

    def commit(self, records: Sequence[InRecord], outputs: Sequence[OutRecord]) -> bool:
        self._publisher.publish(outputs)
        # Only the partitions still ours: one revoked while its batch was in flight is re-read
        # by its new owner from the last commit (at-least-once).
        mine = owned(self._consumer)
        kept = [tp for tp in next_offsets(records) if (tp.topic, tp.partition) in mine]
        if kept:
            self._consumer.store_offsets(offsets=kept)
        return True

    def revoked(self, partitions: Sequence[TopicPartition]) -> None:
        try:
            self._consumer.commit(asynchronous=False)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError._NO_OFFSET:
                log.warning("commit failed: %s", exc)

    def lost(self, partitions: Sequence[TopicPartition]) -> None:
        pass  # no commit for lost partitions: their new owner has them


class TransactionalCommitter:
    """Outputs and consumer offsets in one Kafka transaction per batch.

    ``backoff(seconds)`` waits after an abort (it returns early on shutdown): an error that
    persists (a broker refusing the transaction) must not turn into a busy loop. ``on_abort``
    counts aborts. The calls librdkafka may block in past their timeout run under ``watchdog``.
    """

    def __init__(
        self,
        consumer: Consumer,
        producer: Producer,
        publisher: Publisher,
        *,
        watchdog: Watchdog,
        backoff: Callable[[float], object],
        on_abort: Callable[[], None] = lambda: None,
    ) -> None:
        self._consumer, self._producer, self._publisher = consumer, producer, publisher
        self._watchdog, self._backoff, self._on_abort = watchdog, backoff, on_abort
        self._revoked: set[tuple[str, int]] | None = None  # while a transaction is open
        self._aborts = 0  # consecutive aborted transactions: the backoff grows with them

    def start(self) -> None:
        self._producer.init_transactions(TXN_TIMEOUT_S)

    def commit(self, records: Sequence[InRecord], outputs: Sequence[OutRecord]) -> bool:
        p, guard = self._producer, self._watchdog.guard
        p.begin_transaction()
        self._revoked = set()
        try:
            self._publisher.publish(outputs)  # may wait for a held output: not guarded
            # Waiting for held outputs polls the consumer, so a rebalance may have taken a
            # partition of this batch; its new owner reads it from the last commit, and
            # committing these offsets too would score that work twice.
            revoked = self._revoked  # usually empty: then no per-record work
            if revoked and (gone := {(r.topic, r.partition) for r in records} & revoked):
                why = f"partitions {sorted(part for _, part in gone)} revoked during the batch"
                self._abort(records, why)
                return False
            with guard("send_offsets_to_transaction", TXN_STUCK_S):
                group = self._consumer.consumer_group_metadata()
                p.send_offsets_to_transaction(next_offsets(records), group, TXN_TIMEOUT_S)
        except KafkaException as exc:
            err: KafkaError = exc.args[0]
            # a timeout or a coordinator moving (a broker restart) is retriable: the open
            # transaction is aborted and the batch redone, as for an abortable error
            if not (err.txn_requires_abort() or (err.retriable() and not err.fatal())):
                raise
            self._abort(records, err.str())
            return False
        finally:
            self._revoked = None
        try:
            # a commit that timed out goes on in the background: retried, never aborted
            # (an abort would then be refused), until it answers or gives up for good
            _again("commit_transaction", lambda: p.commit_transaction(TXN_TIMEOUT_S), guard)
            self._aborts = 0
            return True
        except KafkaException as exc:
            err = exc.args[0]
            if not err.txn_requires_abort():
                raise
            self._abort(records, err.str())
            return False

    def _abort(self, records: Sequence[InRecord], why: str) -> None:
        log.warning("aborting transaction and rewinding: %s", why, extra=span(records))
        self._on_abort()
        abort = self._producer.abort_transaction
        _again("abort_transaction", lambda: abort(TXN_TIMEOUT_S), self._watchdog.guard)
        rewind(self._consumer, records)
        self._aborts += 1
        self._backoff(min(0.05 * 2 ** (self._aborts - 1), 2.0))

    def revoked(self, partitions: Sequence[TopicPartition]) -> None:
        self._note_gone(partitions)  # offsets commit only inside transactions

    def lost(self, partitions: Sequence[TopicPartition]) -> None:
        self._note_gone(partitions)

    def _note_gone(self, partitions: Sequence[TopicPartition]) -> None:
        if self._revoked is not None:
            self._revoked.update((tp.topic, tp.partition) for tp in partitions)


def _again(
    call: str,
    run: Callable[[], None],
    guard: Callable[[str, float], AbstractContextManager[None]],
    attempts: int = TXN_ATTEMPTS,
) -> None:
    """A transactional call, made again while librdkafka says it may be (``retriable``: it timed
    out, the coordinator moved), each attempt under the watchdog's guard."""
    for attempt in range(1, attempts + 1):
        try:
            with guard(call, TXN_STUCK_S):
                run()
            return
        except KafkaException as exc:
            err: KafkaError = exc.args[0]
            if attempt == attempts or not err.retriable() or err.txn_requires_abort():
                raise
            log.warning("%s: %s; trying again (%d of %d)", call, err.str(), attempt + 1, attempts)
