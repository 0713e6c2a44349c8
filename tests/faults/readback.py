"""Reading topics back while faults happen, and the audit.

- ``TopicTail``: a reader assigned to every partition of a topic from offset 0, running in a
  thread for the whole test (so it also reads *during* the faults); ``sync`` waits until it has
  everything up to the topic's current end for its isolation level.
- ``audit``: missing and duplicate event ids by set difference against the produced ids.
- ``wait_scored`` / ``finish``: wait for the workers to score (and drain) what was produced.
- offsets, lag and ``TxnProbe``: what the group committed, and whether a transaction is open.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from confluent_kafka import Consumer, TopicPartition

from tests.faults.harness import Scenario, WorkerProc, require, wait_until


@dataclass(frozen=True)
class Rec:
    """One record read back; ``doc`` is its value as JSON (None when it is not JSON)."""

    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    doc: Any = None

    def json(self) -> Any:
        return self.doc


def _parse(value: bytes | None) -> Any:
    try:
        return json.loads(value or b"null")
    except (ValueError, RecursionError):
        return None


def _consumer(kafka: str, committed_only: bool) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": kafka,
            "group.id": "faults-reader",  # never subscribes or commits: assign() only
            "enable.auto.commit": False,
            "isolation.level": "read_committed" if committed_only else "read_uncommitted",
            "fetch.wait.max.ms": 50,
        }
    )


def end_offsets(kafka: str, topic: str, *, committed_only: bool = False) -> dict[int, int]:
    """Per partition: the high watermark, or the last stable offset for read_committed."""
    c = _consumer(kafka, committed_only)
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        return {
            p: int(c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[1])
            for p in parts
        }
    finally:
        c.close()


def committed_offsets(kafka: str, group: str, topic: str) -> dict[int, int]:
    """The group's committed offset per partition (-1001 where nothing is committed)."""
    c = Consumer({"bootstrap.servers": kafka, "group.id": group, "enable.auto.commit": False})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        got = c.committed([TopicPartition(topic, p) for p in parts], timeout=15)
        return {tp.partition: tp.offset for tp in got}
    finally:
        c.close()


def lag(kafka: str, group: str, topic: str) -> int:
    """Records of ``topic`` not yet committed by ``group``."""
    ends, done = end_offsets(kafka, topic), committed_offsets(kafka, group, topic)
    return sum(end - max(done.get(p, 0), 0) for p, end in ends.items())


class TopicTail(threading.Thread):
    """Reads a whole topic from offset 0 in a thread until ``close``."""

    def __init__(self, kafka: str, topic: str, *, committed_only: bool = True) -> None:
        super().__init__(name=f"tail-{topic}", daemon=True)
        self.kafka, self.topic, self.committed_only = kafka, topic, committed_only
        self.records: list[Rec] = []
        self.ids: Counter[str] = Counter()  # event_id of every JSON record that has one
        self.positions: dict[int, int] = {}
        self.errors: list[str] = []
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self.start()

    def run(self) -> None:
        c = _consumer(self.kafka, self.committed_only)
        try:
            meta = c.list_topics(self.topic, timeout=10).topics[self.topic]
            parts = [TopicPartition(self.topic, p, 0) for p in meta.partitions]
            c.assign(parts)
            while not self._halt.is_set():
                batch = []
                for m in c.consume(5000, 0.2):
                    if m.error() is not None:
                        self.errors.append(str(m.error()))
                        continue
                    ts = m.timestamp()[1]
                    hdrs = tuple(cast(list[tuple[str, bytes]], m.headers() or []))
                    part, off = m.partition() or 0, m.offset() or 0
                    doc = _parse(m.value())
                    batch.append(Rec(part, off, ts, m.key(), m.value(), hdrs, doc))
                pos = {tp.partition: tp.offset for tp in c.position(parts)}
                with self._lock:
                    self.records.extend(batch)
                    self.ids.update(
                        r.doc["event_id"]
                        for r in batch
                        if isinstance(r.doc, dict) and "event_id" in r.doc
                    )
                    self.positions = pos
        finally:
            c.close()

    def snapshot(self) -> list[Rec]:
        with self._lock:
            return list(self.records)

    def distinct(self) -> int:
        """Distinct event ids read so far (cheap: no parsing)."""
        with self._lock:
            return len(self.ids)

    def has_all(self, ids: set[str]) -> bool:
        with self._lock:
            return len(self.ids) >= len(ids) and all(i in self.ids for i in ids)

    def sync(self, timeout_s: float = 60.0) -> list[Rec]:
        """Everything up to the topic's end as of now (its LSO for a read_committed tail)."""
        ends = end_offsets(self.kafka, self.topic, committed_only=self.committed_only)

        def caught_up() -> bool:
            with self._lock:
                pos = dict(self.positions)
            return all(end == 0 or pos.get(p, -1) >= end for p, end in ends.items())

        require(wait_until(caught_up, timeout_s), f"{self.topic} reader stuck before {ends}")
        return self.snapshot()

    def close(self) -> None:
        self._halt.set()
        self.join(30)


def read_topic(kafka: str, topic: str, *, committed_only: bool = True) -> list[Rec]:
    tail = TopicTail(kafka, topic, committed_only=committed_only)
    try:
        return tail.sync()
    finally:
        tail.close()


@dataclass
class Audit:
    """Score records against the produced ids: the figures every test reports."""

    events: int
    records: int
    missing: set[str] = field(default_factory=set)
    unexpected: set[str] = field(default_factory=set)
    duplicates: int = 0
    copies: Counter[str] = field(default_factory=Counter)


def audit(produced: set[str], scores: Iterable[Rec]) -> Audit:
    ids = Counter(r.json()["event_id"] for r in scores)
    return Audit(
        events=len(produced),
        records=sum(ids.values()),
        missing=produced - set(ids),
        unexpected=set(ids) - produced,
        duplicates=sum(n - 1 for n in ids.values()),
        copies=ids,
    )


def scored_ids(scores: Iterable[Rec]) -> set[str]:
    return {r.json()["event_id"] for r in scores}


def scored_positions(scores: Iterable[Rec]) -> set[tuple[int, int]]:
    """Distinct (input partition, input offset) of the score records."""
    out = set()
    for r in scores:
        v = r.json()
        out.add((v["partition"], v["offset"]))
    return out


def wait_scored(tail: TopicTail, n: int, timeout_s: float, *procs: WorkerProc) -> None:
    """Until the tail holds ``n`` distinct scored events; fail early if every worker died."""

    def done() -> bool:
        if procs and not any(p.alive() for p in procs):
            return True
        return tail.distinct() >= n

    require(wait_until(done, timeout_s, 0.3), f"fewer than {n} events scored in {timeout_s:.0f}s")
    require(not procs or any(p.alive() for p in procs), "every worker died:\n" + procs[-1].tail())


def finish(
    sc: Scenario,
    tail: TopicTail,
    ids: set[str],
    procs: Sequence[WorkerProc],
    timeout_s: float,
    stall_s: float | None = None,
) -> list[int | None]:
    """Wait until every id is scored and the group's lag is 0, then SIGTERM the workers.

    Returns their exit statuses: None when one outlives 30 s after SIGTERM; -6 when the work is
    not drained by ``timeout_s`` (or nothing new was scored for ``stall_s``), as a stuck worker
    is then sent SIGABRT so its log ends with every thread's stack. A worker is stopped only
    once it has logged that it is consuming: before that its SIGTERM handler does not exist.
    """
    for p in procs:
        if p.alive():
            p.wait_log("consuming", 90)
    progress = {"n": tail.distinct(), "at": time.monotonic()}

    def settled() -> bool:
        if not any(p.alive() for p in procs):
            return True
        if tail.has_all(ids) and lag(sc.kafka, sc.group, sc.tx) == 0:
            return True
        if (n := tail.distinct()) > progress["n"]:
            progress.update(n=n, at=time.monotonic())
        return stall_s is not None and time.monotonic() - progress["at"] > stall_s

    wait_until(settled, timeout_s, 0.5)
    drained = tail.has_all(ids) and lag(sc.kafka, sc.group, sc.tx) == 0
    if not drained and any(p.alive() for p in procs):
        return [p.dump_stacks() if p.alive() else p.popen.returncode for p in procs]
    return [p.stop(30)[0] if p.alive() else p.popen.returncode for p in procs]


class TxnProbe:
    """Is a transaction open on these topics? (records past the last stable offset)

    A read_committed consumer's high watermark is the last stable offset (LSO); records between
    it and the real high watermark belong to a transaction not yet committed or aborted.
    """

    def __init__(self, kafka: str, topics: Sequence[str]) -> None:
        self.ru, self.rc = _consumer(kafka, False), _consumer(kafka, True)
        self.parts = [
            TopicPartition(t, p)
            for t in topics
            for p in self.ru.list_topics(t, timeout=10).topics[t].partitions
        ]

    def pending(self) -> int:
        """Records past the LSO, summed over every partition."""
        total = 0
        for tp in self.parts:
            high = self.ru.get_watermark_offsets(tp, timeout=10, cached=False)[1]
            stable = self.rc.get_watermark_offsets(tp, timeout=10, cached=False)[1]
            total += high - stable
        return int(total)

    def close(self) -> None:
        self.ru.close()
        self.rc.close()
