"""``fraudscore perf run``: scores and labels in; stored join, table, gauges and alarm events out.

Why a process of its own rather than a step of the drift sidecar (``monitoring/drift/sidecar.py``):

1. delivery: the sidecar is at-most-once on purpose (its window lives in memory and a lost
   sample is harmless). This monitor keeps score records for days until their labels come, so
   it stores offsets only after the batch is committed to SQLite (at-least-once; replays are
   absorbed by the idempotent upserts);
2. volume: ``fraud.scores`` carries every scored event, ~100x ``fraud.samples``; a 10-20 s
   Evidently report would stall it, and its backlog would delay the drift reports;
3. isolation: a full disk under the SQLite file must not stop drift reports, nor the reverse.

What the two share: the reports folder (this process writes ``performance.json`` and rebuilds
``index.html``, which shows both), the ``fraud.drift`` topic (events told apart by their
``event`` field) and their edges (``monitoring.edges``: topic check, records, HTTP server, event
publishing) on the kernel's consumer (``core.kafka``).

``run_performance`` (style.md #1, steps in order):

1. open the store, check the broker and the three topics (one clear error otherwise), serve
   /metrics and the reports on ``perf_metrics_port``, subscribe to scores and labels;
2. consume a batch; decode each record by its topic (invalid ones are counted and skipped);
3. upsert the batch in one SQLite transaction, THEN store its offsets (auto-commit only ever
   commits stored offsets);
4. every ``eval_interval_s`` and once before stopping, ``Evaluator.run``
   (``monitoring.performance.evaluate``): prune, table,
   ``performance.json`` + index, gauges, alarm; each transition is published (delivery awaited),
   logged in one line, and only then stored (a crash in between repeats it: at-least-once);
5. stop on ``stop_event``/SIGTERM/SIGINT, after ``max_records`` records, or when idle.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from confluent_kafka import Producer
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from core.kafka import make_consumer
from core.kafka_errors import client_config
from core.messages import LabelEvent, ScoreRecord
from core.records import InRecord, next_offsets
from core.settings import Settings
from core.signals import stop_on_signals
from monitoring.edges import check_topics, consumed, publish_event, serve_reports
from monitoring.metrics import PerformanceMetrics
from monitoring.performance.alarm import ExpectedLoader
from monitoring.performance.evaluate import Evaluator, check_retention, open_store
from monitoring.performance.store import PerformanceStore
from monitoring.performance.types import PerformanceAlarm

log = logging.getLogger(__name__)

CONSUME_BATCH = 1000
POLL_TIMEOUT_S = 0.5


@dataclass
class PerfStats:
    """What one ``run_performance`` call did (returned for tests and the CLI's last line)."""

    scores: int = 0
    labels: int = 0
    invalid: int = 0
    evaluations: int = 0
    events: list[PerformanceAlarm] = field(default_factory=list)


def run_performance(
    settings: Settings,
    *,
    expected_loader: ExpectedLoader,
    max_records: int | None = None,
    idle_timeout_s: float | None = None,
    stop_event: threading.Event | None = None,
    eval_interval_s: float = 60.0,
    group_id: str | None = None,
    registry: CollectorRegistry | None = None,
) -> PerfStats:
    """Consume scores and labels, keep the join, evaluate, until stopped (module docstring)."""
    check_retention(settings)
    stop = stop_event or threading.Event()
    metrics = PerformanceMetrics(registry or CollectorRegistry())
    stats, server = PerfStats(), None
    store = open_store(settings)
    # auto_commit commits only the offsets stored below, after the SQLite commit (at-least-once)
    consumer = make_consumer(settings, group_id or settings.perf_group_id, auto_commit=True)
    producer = Producer(client_config(settings))

    def publish(event: PerformanceAlarm) -> None:
        publish_event(producer, settings.topic_drift, event)
        stats.events.append(event)

    evaluator = Evaluator(store, settings, metrics, expected_loader, publish)
    with stop_on_signals(stop):
        try:
            topics = [settings.topic_scores, settings.topic_labels]
            check_topics(consumer, [*topics, settings.topic_drift])
            if settings.perf_metrics_port:
                server = serve_reports(
                    settings.perf_metrics_port,
                    metrics.registry,
                    settings.reports_dir,
                    name="perf-http",
                )
            consumer.subscribe(topics)
            last_record = last_eval = time.monotonic()
            pending = True  # evaluate once even when nothing arrives (a restart refreshes the page)
            while not stop.is_set():
                msgs = consumer.consume(CONSUME_BATCH, timeout=POLL_TIMEOUT_S)
                now = time.monotonic()
                if msgs:
                    records = consumed(msgs)
                    ingest(records, settings, store, metrics, stats)
                    if records:
                        consumer.store_offsets(offsets=next_offsets(records))
                    last_record, pending = now, True
                seen = stats.scores + stats.labels + stats.invalid
                done = max_records is not None and seen >= max_records
                idle = idle_timeout_s is not None and now - last_record >= idle_timeout_s
                if pending and (done or idle or now - last_eval >= eval_interval_s):
                    evaluator.run()
                    stats.evaluations += 1
                    last_eval, pending = now, False
                if done or idle:
                    log.info("stopping: %s", "max records" if done else f"idle {idle_timeout_s}s")
                    break
        finally:
            consumer.close()
            store.close()
            if server is not None:
                server.shutdown()
                server.server_close()
    log.info("performance monitor stopped: %s", stats)
    return stats


def ingest(
    records: list[InRecord],
    settings: Settings,
    store: PerformanceStore,
    metrics: PerformanceMetrics,
    stats: PerfStats,
) -> None:
    """Steps 2-3: decode the batch by topic, then upsert it in one transaction."""
    scores: list[ScoreRecord] = []
    labels: list[LabelEvent] = []
    for record in records:
        is_score = record.topic == settings.topic_scores
        model: type[ScoreRecord | LabelEvent] = ScoreRecord if is_score else LabelEvent
        try:
            value = model.model_validate_json(record.value or b"")
        except ValidationError as exc:
            stats.invalid += 1
            metrics.dropped.labels("invalid").inc()
            first = exc.errors(include_input=False)[0]
            log.warning(
                "skipping an invalid %s at %s[%s]@%s: %s at %s",
                "score record" if is_score else "label",
                record.topic,
                record.partition,
                record.offset,
                first["msg"],
                ".".join(str(p) for p in first["loc"]) or "<root>",
            )
            continue
        if isinstance(value, ScoreRecord):
            scores.append(value)
        else:
            labels.append(value)
    store.add(scores, labels)
    stats.scores += len(scores)
    stats.labels += len(labels)
    metrics.records.labels("score").inc(len(scores))
    metrics.records.labels("label").inc(len(labels))
