"""A consume loop on in-memory clients: the store, labels, clock and stop event fakes, and
``Rig``, which wires them with ``loopfakes``' Kafka clients into a real ``worker.loop.Worker``.

The model is ``test_worker_pipeline.FakeModel`` (score = amount / 100, threshold 0.5): an event
of amount 50 or more raises an alert. Input values come from that module's ``event`` helper.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from core.settings import DeliveryMode, RedisFailurePolicy, Settings
from decision.model import FloatArray
from decision.rules import Ruleset
from features.lists import ListSnapshot
from features.online import StoreEvent, StoreLabel, StoreUnavailable
from features.refusals import Refusal, StoreRefused, isolate_refused
from features.registry import RAW_COLUMNS
from tests.unit.loopfakes import FakeConsumer, FakeProducer
from tests.unit.test_worker_pipeline import FakeModel, event
from worker.clients import Clients
from worker.guard import WorkerStats
from worker.loop import Worker
from worker.metrics import Health, WorkerMetrics
from worker.watchdog import Watchdog

MODES = [DeliveryMode.AT_LEAST_ONCE, DeliveryMode.EXACTLY_ONCE]
TOPIC = "payments.transactions"


class FakeClock:
    """``monotonic`` and ``time`` that move only when told (the consumer's waits move them)."""

    def __init__(self) -> None:
        self.now = 0.0

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return 1_522_576_800.0 + self.now


class RecordingStop(threading.Event):
    """The stop event; ``wait`` (the loop's backoff after an abort) is recorded, not slept."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout or 0.0)
        return self.is_set()


class FakeLabels:
    def __init__(self) -> None:
        self.assigned = self.closed = False
        self.drains = 0

    def assign(self) -> None:
        self.assigned = True

    def drain(self, budget_s: float = 10.0) -> int:
        self.drains += 1
        return 0

    def close(self) -> None:
        self.closed = True


class FakeStore:
    """The online store's calls the loop makes; raw aggregates are all ones.

    ``fail_enrich(n, pings=k)``: the next ``n`` enrich calls raise ``StoreUnavailable``, and
    after each of them the next ``k`` pings do too (an outage that lasts a few retries).
    ``refused``: customer ids whose events the store refuses (``StoreRefused``), as Redis does
    for a key of another type.
    """

    def __init__(self) -> None:
        self.pings = 0
        self.enriched: list[list[str]] = []  # event ids, per successful call
        self.labels: list[StoreLabel] = []
        self.progress: list[dict[int, str]] = []
        self._enrich_failures = self._pings_after = self._ping_failures = 0
        self.refused: set[str] = set()
        self.history_since: int | None = 0  # the history mark: every event held

    def fail_enrich(self, n: int, *, pings: int = 0) -> None:
        self._enrich_failures, self._pings_after = n, pings

    def ping(self) -> None:
        self.pings += 1
        if self._ping_failures > 0:
            self._ping_failures -= 1
            raise StoreUnavailable("injected: PING failed")

    def enrich(self, events: Sequence[StoreEvent]) -> FloatArray:
        if self._enrich_failures > 0:
            self._enrich_failures -= 1
            self._ping_failures = self._pings_after
            raise StoreUnavailable("injected: enrich failed")
        if any(e.customer_id in self.refused for e in events):
            raise StoreRefused("injected: a key of another type")
        self.enriched.append([e.event_id for e in events])
        return np.ones((len(events), len(RAW_COLUMNS)), dtype=np.float64)

    def enrich_checked(self, events: Sequence[StoreEvent]) -> tuple[FloatArray, dict[int, Refusal]]:
        return isolate_refused(lambda some: (self.enrich(some), []), events)

    def exchange_progress(self, topic: str, mine: dict[int, str]) -> dict[str, str]:
        self.progress.append(dict(mine))
        return {str(p): v for p, v in mine.items()}

    def apply_labels(self, labels: Sequence[StoreLabel]) -> None:
        self.labels.extend(labels)


def txn(i: int, amount: float = 10.0) -> bytes:
    """A valid transaction value: event ``evt-<i>``, all on one day."""
    return json.dumps(event(i, amount, event_time="2018-04-01T10:00:00+00:00")).encode()


def make_settings(mode: DeliveryMode, **overrides: Any) -> Settings:
    fields: dict[str, Any] = {
        "delivery": mode,
        "worker_id": "w-test",
        "group_id": "g-test",
        "topic_transactions": TOPIC,
        "batch_max_events": 4,
        "batch_max_ms": 1,
        "sample_rate": 0.0,
        "redis_failure_policy": RedisFailurePolicy.PAUSE,
        "dlq_window": 100,
        "dlq_max_share": 0.5,
        "metrics_port": 0,
    }
    fields.update(overrides)
    return Settings(_env_file=None, **fields)


@dataclass
class Rig:
    settings: Settings
    consumer: FakeConsumer
    producer: FakeProducer
    labels: FakeLabels
    store: FakeStore
    clock: FakeClock
    stop: RecordingStop
    metrics: WorkerMetrics
    health: Health
    worker: Worker
    overruns: list[tuple[str, float]] = field(default_factory=list)

    def run(self, idle_timeout_s: float | None = 1.0, **kw: Any) -> WorkerStats:
        return self.worker.run(self.stop, idle_timeout_s=idle_timeout_s, **kw)

    def out(self, topic: str) -> list[dict[str, Any]]:
        """What a read_committed reader of ``topic`` sees."""
        return self.producer.values(topic)

    def scores(self) -> list[dict[str, Any]]:
        return self.out(self.settings.topic_scores)

    def alerts(self) -> list[dict[str, Any]]:
        return self.out(self.settings.topic_alerts)

    def scored(self) -> Counter[tuple[int, int]]:
        """How many visible score records each input (partition, offset) got."""
        return Counter((s["partition"], s["offset"]) for s in self.scores())

    def every_record(self) -> Counter[tuple[int, int]]:
        """Every input record, once."""
        return Counter((p, m.offset() or 0) for p, log in self.consumer.logs.items() for m in log)

    def ends(self) -> dict[int, int]:
        """The offset past the last record, per non-empty partition."""
        return {p: len(log) for p, log in self.consumer.logs.items() if log}

    def dead_letters(self) -> list[tuple[bytes | None, dict[str, bytes]]]:
        """Value and headers of each visible dead letter."""
        dlq = [m for m in self.producer.visible if m.topic() == self.settings.topic_dlq]
        return [(m.value(), dict(cast(list[tuple[str, bytes]], m.headers()))) for m in dlq]

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


def rig(
    mode: DeliveryMode,
    logs: Mapping[int, Sequence[bytes | None]],
    policy: Callable[[], Ruleset | None] = lambda: None,
    lists: Callable[[], ListSnapshot | None] = lambda: None,
    **overrides: Any,
) -> Rig:
    """A worker in ``mode`` over input partitions ``logs``, every other client a fake."""
    settings = make_settings(mode, **overrides)
    clock = FakeClock()
    consumer = FakeConsumer(
        TOPIC, logs, clock=clock, auto_commit=mode is DeliveryMode.AT_LEAST_ONCE
    )
    producer = FakeProducer(consumer.committed_offsets)
    labels, store, model = FakeLabels(), FakeStore(), FakeModel()
    metrics, health = WorkerMetrics(), Health()
    overruns: list[tuple[str, float]] = []
    worker = Worker(
        settings,
        Clients(consumer, producer, labels),  # type: ignore[arg-type]
        lambda: model,
        store,  # type: ignore[arg-type]
        metrics,
        health,
        clock=clock,
        policy=policy,
        lists=lists,
        watchdog=Watchdog(lambda what, limit: overruns.append((what, limit))),
    )
    return Rig(
        settings,
        consumer,
        producer,
        labels,
        store,
        clock,
        RecordingStop(),
        metrics,
        health,
        worker,
        overruns,
    )
