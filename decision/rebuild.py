"""Feature state rebuilt from the log: the labels and transactions topics replayed into Redis.

A Redis restarted empty would give every customer and terminal short windows for a month. The
topics hold everything the windows are made of, so ``rebuild`` reads them again and applies
them through the store's own batch script, as the workers did:

1. the labels topic, whole (labels are idempotent per event, and pruning acts in the
   transactions' time, so labels ahead of the transactions they mark remove nothing);
2. the transactions topic from ``since_ms`` (a record timestamp: the features' horizon, by
   default) or from where an interrupted rebuild stopped, to the end as it was when it started;
   each partition in order, so every customer's events (keyed by customer) are in order.

Events are decoded and bounded in time exactly as the worker does, and those it dead-letters
change nothing here either. Nothing is produced and no group offset moves. The script is
idempotent per event id, so a rebuild run twice, or over events the store already holds, leaves
the same state; progress is kept per partition under ``<prefix>:rebuild:<topic>`` after every
batch, so a stopped rebuild resumes where it was. When it ends, the store's history mark says
from which event time it holds every event (``decision.history``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import Consumer, TopicPartition

from core.intake import split
from core.kafka import watermarks
from core.reading import partitions, reader
from core.records import to_records
from core.settings import Settings
from decision.features import parse_labels, store_events
from decision.history import HORIZON_MS, mark_rebuilt
from features.online import OnlineStore

BATCH = 2000
FROM = -1  # the progress's entry for the earliest event time replayed (no partition is -1)

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class RebuildStats:
    labels: int = 0
    transactions: int = 0
    rejected: int = 0  # records the worker dead-letters: they change no window
    resumed: bool = False
    seconds: float = 0.0
    history_since_ms: int | None = None  # the store's history mark after the rebuild


def rebuild(
    settings: Settings,
    store: OnlineStore,
    *,
    since_ms: int | None = None,
    fresh: bool = False,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.time,
) -> RebuildStats:
    """Replay the labels and transactions topics into ``store`` (module docstring).

    ``since_ms``: the record timestamp to start the transactions from (default: the clock less
    ``HORIZON_MS``); ``fresh``: ignore the progress of an earlier, interrupted rebuild.
    """
    started = time.monotonic()
    stats = RebuildStats()
    report = progress or (lambda _stage, _done, _total: None)
    consumer = reader(settings, f"fraudscore-rebuild-{uuid.uuid4().hex[:12]}", quiet=True)
    try:
        stats.labels = _labels(consumer, settings.topic_labels, store, report)
        topic = settings.topic_transactions
        done = {} if fresh else store.rebuild_progress(topic)
        stats.resumed = bool(done)
        # the earliest event time replayed so far (0: every partition from offset 0): the
        # history mark the rebuild leaves, kept in the progress under FROM across a resume
        first_ms = done.pop(FROM, None)
        since = int(clock() * 1000) - HORIZON_MS if since_ms is None else since_ms
        starts = _starts(consumer, topic, since, done)
        ends = {tp.partition: watermarks(consumer, tp)[1] for tp in starts}
        total = sum(max(0, ends[tp.partition] - tp.offset) for tp in starts)
        report("transactions", 0, total)
        left = [tp for tp in starts if tp.offset < ends[tp.partition]]
        consumer.assign(left)
        seen = 0
        if not stats.resumed and all(tp.offset == 0 for tp in starts):
            first_ms = 0  # every partition from its first record ever: all history
        open_parts = {tp.partition for tp in left}
        while open_parts:
            # never ask for more than is left: consume() waits for the count or the timeout
            msgs = consumer.consume(max(1, min(BATCH, total - seen)), 2.0)
            if not msgs:
                break  # nothing arrives: the end as it was is behind us (compacted, deleted)
            records = [
                r for r in to_records(msgs) if r.offset < ends[r.partition]
            ]  # past the end: later traffic, the workers' to score
            good, dead = split(
                records,
                max_bytes=settings.max_message_bytes,
                dlq_topic="",
                now_ms=clock() * 1000,
                max_ahead_s=settings.max_event_ahead_s,
            )
            events = store_events([ev for _, ev in good])
            store.enrich_checked(events)  # refusals change nothing
            if events:
                low = min(e.event_ms for e in events)
                first_ms = low if first_ms is None else min(first_ms, low)
            stats.transactions += len(good)
            stats.rejected += len(dead)
            last = {r.partition: r.offset + 1 for r in records}
            store.save_rebuild_progress(
                topic, last if first_ms is None else {**last, FROM: first_ms}
            )
            open_parts -= {p for p, nxt in last.items() if nxt >= ends[p]}
            seen += len(records)
            report("transactions", seen, total)
        store.save_rebuild_progress(topic, {}, finished=True)
        if first_ms is not None:
            stats.history_since_ms = mark_rebuilt(store, first_ms).since_ms
    finally:
        consumer.close()
    stats.seconds = time.monotonic() - started
    return stats


def _labels(consumer: Consumer, topic: str, store: OnlineStore, report: Progress) -> int:
    ends = {tp.partition: watermarks(consumer, tp)[1] for tp in partitions(consumer, topic)}
    total = sum(ends.values())
    report("labels", 0, total)
    consumer.assign([TopicPartition(topic, p, 0) for p, end in ends.items() if end > 0])
    left, applied, seen = {p for p, end in ends.items() if end > 0}, 0, 0
    while left:
        msgs = consumer.consume(max(1, min(5000, total - seen)), 2.0)
        if not msgs:
            break
        records = [r for r in to_records(msgs) if r.offset < ends[r.partition]]
        labels = parse_labels([r.value for r in records])
        store.apply_labels(labels)
        applied += len(labels)
        seen += len(records)
        left -= {r.partition for r in records if r.offset + 1 >= ends[r.partition]}
        report("labels", seen, total)
    consumer.unassign()
    return applied


def _starts(
    consumer: Consumer, topic: str, since_ms: int, done: dict[int, int]
) -> list[TopicPartition]:
    """Per partition: where an interrupted rebuild stopped, else the first record at or after
    ``since_ms`` (the end when there is none), never before the log start."""
    parts = partitions(consumer, topic)
    asked = [TopicPartition(topic, tp.partition, since_ms) for tp in parts]
    found = {tp.partition: tp.offset for tp in consumer.offsets_for_times(asked, timeout=10)}
    out = []
    for tp in parts:
        low, high = watermarks(consumer, tp)
        start = done.get(tp.partition, found.get(tp.partition, -1))
        if start < 0:  # no record that recent: nothing to replay
            start = high
        out.append(TopicPartition(topic, tp.partition, max(start, low)))
    return out
