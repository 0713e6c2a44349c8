"""In-memory Kafka clients for unit tests of the consume loop (``worker/loop.py``).

No broker, no librdkafka handle: ``FakeConsumer`` serves per-partition logs of one input topic,
as real ``confluent_kafka.Message`` objects (built with their test constructor), and
``FakeProducer`` records what the loop produces and commits. Both follow librdkafka where the
loop depends on it:

- rebalance callbacks fire inside ``consume`` (the first call joins and assigns every
  partition); an assigned partition starts at the group's committed offset, else at 0;
- a partition's pause flag survives losing and regaining it;
- ``store_offsets`` stores assigned partitions only, and raises ``_STATE`` if none is assigned;
  unassigning drops stored offsets, after auto-committing them (at-least-once) on a revoke;
- ``commit()`` with nothing new to commit raises ``_NO_OFFSET``;
- a consume returning fewer records than asked for waits its whole timeout (on the clock);
- a transactional producer produces only inside a transaction, whose outputs become visible
  (``visible``: what a ``read_committed`` reader sees) and offsets committed at
  ``commit_transaction``; ``abort_transaction`` purges what is pending.

The consumer and the producer share the group's committed offsets (``committed_offsets``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from confluent_kafka import (
    OFFSET_INVALID,
    TIMESTAMP_CREATE_TIME,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

Callback = Callable[[Any, list[TopicPartition]], None]


class Clock(Protocol):
    def advance(self, seconds: float) -> None: ...


def _error(code: int, reason: str = "", **kw: bool) -> KafkaException:
    return KafkaException(KafkaError(code, reason, **kw))


def message(topic: str, partition: int, offset: int, value: bytes | None, **kw: Any) -> Message:
    """A ``confluent_kafka.Message`` (its constructor is meant for tests), timestamped."""
    kw.setdefault("timestamp", (TIMESTAMP_CREATE_TIME, 1_522_576_800_000 + max(offset, 0)))
    return Message(topic=topic, partition=partition, offset=offset, value=value, **kw)


class FakeConsumer:
    """A group consumer of ``topic`` whose partitions hold ``logs``.

    Controls: ``rebalance(revoke=, assign=)`` and ``lose()`` fire inside the next ``consume``;
    ``on_consume`` runs first in every ``consume`` (an event it schedules fires in that call);
    ``append`` adds records. Views: ``reads`` (times each (partition, offset) was handed out),
    ``stored``, ``committed_offsets``, ``paused``, ``closed``.
    """

    def __init__(
        self,
        topic: str,
        logs: Mapping[int, Sequence[bytes | None]],
        *,
        clock: Clock | None = None,
        auto_commit: bool = True,
        max_calls: int = 5000,
    ) -> None:
        self.topic, self.clock, self.auto_commit = topic, clock, auto_commit
        self.max_calls = max_calls
        self.logs: dict[int, list[Message]] = {p: [] for p in logs}
        for p, values in logs.items():
            self.append(p, values)
        self.committed_offsets: dict[int, int] = {}
        self.stored: dict[int, int] = {}
        self.positions: dict[int, int] = {}
        self.paused: set[int] = set()
        self.reads: Counter[tuple[int, int]] = Counter()
        self.calls = 0
        self.closed = False
        self.on_consume: Callable[[], None] | None = None
        self._callbacks: dict[str, Callback | None] = {}
        self._joined = False
        self._events: list[tuple[str, list[int]]] = []

    # -- test controls ----------------------------------------------------------------------
    def append(self, partition: int, values: Sequence[bytes | None]) -> None:
        log = self.logs.setdefault(partition, [])
        for v in values:
            off = len(log)
            log.append(message(self.topic, partition, off, v))

    def rebalance(self, revoke: Sequence[int] = (), assign: Sequence[int] = ()) -> None:
        self._events += [(k, list(ps)) for k, ps in (("revoke", revoke), ("assign", assign)) if ps]

    def lose(self, partitions: Sequence[int]) -> None:
        self._events.append(("lost", list(partitions)))

    @property
    def assigned(self) -> set[int]:
        return set(self.positions)

    # -- the Consumer API the loop uses -----------------------------------------------------
    def subscribe(self, topics: list[str], **callbacks: Callback) -> None:  # on_assign=...
        assert topics == [self.topic], topics
        self._callbacks = {k.removeprefix("on_"): cb for k, cb in callbacks.items()}

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Message]:
        if self.closed:
            raise RuntimeError("Consumer closed")
        self.calls += 1
        if self.calls > self.max_calls:
            raise RuntimeError(f"{self.calls} consume calls: the loop under test is not ending")
        if self.on_consume is not None:
            self.on_consume()
        if self._callbacks and not self._joined:
            self._joined = True
            self._assign(sorted(self.logs))
        events, self._events = self._events, []
        for kind, parts in events:
            self._assign(parts) if kind == "assign" else self._unassign(parts, kind)
        out: list[Message] = []
        while len(out) < num_messages:
            took = False
            for p in sorted(self.assigned - self.paused):
                pos = self.positions[p]
                if pos < len(self.logs[p]) and len(out) < num_messages:
                    out.append(self.logs[p][pos])
                    self.positions[p], took = pos + 1, True
                    self.reads[(p, pos)] += 1
            if not took:
                break
        if len(out) < num_messages and self.clock is not None and timeout > 0:
            self.clock.advance(timeout)
        return out

    def _tps(self, parts: Sequence[int]) -> list[TopicPartition]:
        return [TopicPartition(self.topic, p) for p in parts]

    def _at(self, partitions: list[TopicPartition], at: dict[int, int]) -> list[TopicPartition]:
        return [
            TopicPartition(self.topic, p.partition, at.get(p.partition, OFFSET_INVALID))
            for p in partitions
        ]

    def _assign(self, parts: Sequence[int]) -> None:
        for p in parts:
            self.positions[p] = self.committed_offsets.get(p, 0)
        if cb := self._callbacks.get("assign"):
            cb(self, self._tps(parts))

    def _unassign(self, parts: Sequence[int], kind: str) -> None:
        parts = [p for p in parts if p in self.positions]
        if cb := self._callbacks.get(kind):
            cb(self, self._tps(parts))
        for p in parts:
            stored = self.stored.pop(p, None)
            if kind == "revoke" and self.auto_commit and stored is not None:
                self.committed_offsets[p] = stored
            del self.positions[p]

    def assignment(self) -> list[TopicPartition]:
        return self._tps(sorted(self.positions))

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.paused |= {tp.partition for tp in partitions}

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.paused -= {tp.partition for tp in partitions}

    def seek(self, partition: TopicPartition) -> None:
        if partition.partition not in self.positions:
            raise _error(KafkaError._STATE, f"partition {partition.partition} not assigned")
        self.positions[partition.partition] = partition.offset

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        return self._at(partitions, self.positions)

    def store_offsets(self, *, offsets: list[TopicPartition]) -> None:
        mine = [tp for tp in offsets if tp.partition in self.positions]
        if not mine:
            raise _error(KafkaError._STATE, "none of the offsets could be stored")
        self.stored.update({tp.partition: tp.offset for tp in mine})

    def commit(self, *, asynchronous: bool = True) -> None:
        """Commits the stored offsets (the loop passes no offsets of its own)."""
        new = {p: o for p, o in self.stored.items() if self.committed_offsets.get(p) != o}
        if not new and not asynchronous:
            raise _error(KafkaError._NO_OFFSET, "no offset to commit")
        self.committed_offsets.update(new)

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        return self._at(partitions, self.committed_offsets)

    def get_watermark_offsets(self, partition: TopicPartition, **kw: Any) -> tuple[int, int]:
        return 0, len(self.logs.get(partition.partition, []))  # kw: timeout, cached

    def consumer_group_metadata(self) -> str:
        return "group-metadata"

    def close(self) -> None:
        if self.closed:
            raise RuntimeError("Consumer closed")
        self._unassign(sorted(self.positions), "revoke")  # leaving the group revokes
        self.closed = True


@dataclass
class Transaction:
    committed: bool
    outputs: list[Message]
    offsets: dict[int, int]


class FakeProducer:
    """Records outputs; ``poll``/``flush`` acknowledge them through ``on_delivery``.

    Controls: ``fail_deliveries(topic)``, ``hold_acks(flushes)`` (``flush`` returns what is still
    pending, ``poll`` delivers nothing, for that many flushes), ``queue_full(produces)``
    (``BufferError``), ``fail_commits(n, abortable=)``, ``on_flush`` (runs first in every flush).
    Views: ``visible`` (read_committed), ``aborted``, ``transactions``, ``aborts``.
    """

    def __init__(self, committed_offsets: dict[int, int]) -> None:
        self.group = committed_offsets  # shared with the consumer
        self.transactional = self.in_txn = False
        self.pending: list[tuple[Message, Callable[[Any, Any], None] | None]] = []
        self.visible: list[Message] = []
        self.aborted: list[Message] = []
        self.transactions: list[Transaction] = []
        self.on_flush: Callable[[], None] | None = None
        self._open: list[Message] = []
        self._offsets: dict[int, int] = {}
        self._failing: dict[str, int] = {}
        self._failed_in_txn = False
        self._held = self._buffer_errors = self._commit_failures = 0
        self._abortable = True

    # -- test controls ----------------------------------------------------------------------
    def fail_deliveries(self, topic: str, code: int = KafkaError._MSG_TIMED_OUT) -> None:
        self._failing[topic] = code

    def hold_acks(self, flushes: int) -> None:
        self._held = flushes

    def queue_full(self, produces: int) -> None:
        self._buffer_errors = produces

    def fail_commits(self, n: int, *, abortable: bool = True) -> None:
        self._commit_failures, self._abortable = n, abortable

    @property
    def aborts(self) -> int:
        return sum(not t.committed for t in self.transactions)

    def values(self, topic: str) -> list[dict[str, Any]]:
        """The JSON values a read_committed reader of ``topic`` sees."""
        return [json.loads(m.value() or b"") for m in self.visible if m.topic() == topic]

    # -- the Producer API the loop uses -----------------------------------------------------
    def produce(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        *,
        headers: list[tuple[str, Any]] | None = None,
        on_delivery: Callable[[Any, Any], None] | None = None,
    ) -> None:
        if self.transactional and not self.in_txn:
            raise _error(KafkaError._STATE, "produce outside a transaction")
        if self._buffer_errors > 0:
            self._buffer_errors -= 1
            raise BufferError("Local: Queue full")
        msg = message(topic, 0, -1, value, key=key, headers=list(headers or []))
        self.pending.append((msg, on_delivery))

    def _deliver(self) -> int:
        pending, self.pending = self.pending, []
        for msg, cb in pending:
            code = self._failing.get(msg.topic() or "")
            err = KafkaError(code, "injected delivery failure") if code is not None else None
            if err is not None:
                self._failed_in_txn = self.in_txn
            else:
                (self._open if self.transactional else self.visible).append(msg)
            if cb is not None:
                cb(err, msg)
        return len(pending)

    def poll(self, timeout: float | None = None) -> int:
        return 0 if self._held > 0 else self._deliver()

    def flush(self, timeout: float | None = None) -> int:
        if self.on_flush is not None:
            self.on_flush()
        if self.pending and self._held > 0:
            self._held -= 1
            return len(self.pending)
        self._deliver()
        return 0

    def init_transactions(self, timeout: float | None = None) -> None:
        self.transactional = True

    def _require_txn(self, call: str) -> None:
        if not (self.transactional and self.in_txn):
            raise _error(KafkaError._STATE, f"{call} outside a transaction")

    def begin_transaction(self) -> None:
        if not self.transactional or self.in_txn:
            raise _error(KafkaError._STATE, "begin_transaction: no transactions or one is open")
        self.in_txn, self._open, self._offsets, self._failed_in_txn = True, [], {}, False

    def send_offsets_to_transaction(
        self, positions: list[TopicPartition], group_metadata: object, timeout: float | None = None
    ) -> None:
        self._require_txn("send_offsets_to_transaction")
        assert group_metadata == "group-metadata", group_metadata
        self._offsets.update({tp.partition: tp.offset for tp in positions})

    def commit_transaction(self, timeout: float | None = None) -> None:
        self._require_txn("commit_transaction")
        self._deliver()  # commit flushes first
        if self._failed_in_txn:
            raise _error(KafkaError._STATE, "an output failed", txn_requires_abort=True)
        if self._commit_failures > 0:
            self._commit_failures, ok = self._commit_failures - 1, self._abortable
            raise _error(KafkaError._STATE, "injected", fatal=not ok, txn_requires_abort=ok)
        self.visible.extend(self._open)
        self.group.update(self._offsets)
        self.transactions.append(Transaction(True, self._open, self._offsets))
        self.in_txn = False

    def abort_transaction(self, timeout: float | None = None) -> None:
        self._require_txn("abort_transaction")
        purged, self.pending = self.pending, []
        for msg, cb in purged:
            if cb is not None:
                cb(KafkaError(KafkaError._PURGE_QUEUE, "purged by abort"), msg)
        self.aborted.extend(self._open + [m for m, _ in purged])
        self.transactions.append(Transaction(False, self._open, self._offsets))
        self.in_txn = False
