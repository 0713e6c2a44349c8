"""The drift sidecar's loop: ``fraud.samples`` in; reports, index, gauges and ``fraud.drift`` out.

``run_sidecar`` reads top to bottom (style.md #1); the window, Evidently and the store live in
``DriftTracker``; the Kafka clients are built here and nowhere else (the consumer by the kernel,
``core.kafka``); the edges it shares with the performance monitor (topic check, records, HTTP
server, event publishing) are ``monitoring.edges``. Evidently is imported inside ``run_sidecar``
only.

Delivery: samples are a statistical sample and the window lives in memory, so a batch's offsets
are stored as soon as it is consumed, before it is used, and auto-committed (at-most-once for
samples is fine): a restarted sidecar continues from the committed offset with an empty window.
Its own consumer group (``fraudscore-drift``) reads every sample independently of the workers; a
new group starts at the oldest retained sample.

Bad input is data: a record that is not a valid ``Sample`` is counted
(``fraudscore_drift_samples_dropped_total{reason="invalid"}``), logged and skipped. Broken
infrastructure is an exception: a fatal consumer error or an undelivered drift event raises
``BrokerError`` and ends the loop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from confluent_kafka import Producer
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from core.kafka import make_consumer
from core.kafka_errors import client_config
from core.messages import Sample
from core.records import InRecord, next_offsets
from core.settings import Settings
from core.signals import stop_on_signals
from features.registry import FEATURE_NAMES
from monitoring.edges import check_topics, consumed, publish_event, serve_reports
from monitoring.metrics import DriftMetrics

if TYPE_CHECKING:
    from monitoring.drift.tracker import ReferenceLoader

log = logging.getLogger(__name__)

DRIFT_GROUP_ID = "fraudscore-drift"
CONSUME_BATCH = 500
POLL_TIMEOUT_S = 0.5


@dataclass
class SidecarStats:
    """What one ``run_sidecar`` call did (returned for tests and the CLI's last line)."""

    consumed: int = 0
    invalid: int = 0
    reports: int = 0
    events: int = 0


def run_sidecar(
    settings: Settings,
    *,
    reference_loader: ReferenceLoader,
    max_runs: int | None = None,
    idle_timeout_s: float | None = None,
    stop_event: threading.Event | None = None,
    interval_s: float | None = 300.0,
    min_samples: int = 200,
    columns: Sequence[str] = FEATURE_NAMES,
    group_id: str = DRIFT_GROUP_ID,
    registry: CollectorRegistry | None = None,
    table: bool = True,
) -> SidecarStats:
    """Consume samples and report drift until stopped, ``max_runs`` reports, or idle.

    1. check the broker answers and both topics exist (one clear error otherwise); serve
       /metrics and the reports when ``settings.metrics_port`` > 0; subscribe;
    2. consume a batch; decode each record (invalid ones are counted and skipped) and add it to
       its model version's window;
    3. for every window that is due (full, or on the ``interval_s`` schedule): run the report,
       store it, rebuild the index, set the gauges, and publish a ``fraud.drift`` event when the
       version's status changed (flushed before going on);
    4. stop on ``stop_event``/SIGTERM/SIGINT, after ``max_runs`` reports, or when no record
       arrived for ``idle_timeout_s``; close the consumer, stop the HTTP server.
    """
    from monitoring.drift.tracker import DriftTracker  # imports Evidently (10-20 s)

    stop = stop_event or threading.Event()
    metrics = DriftMetrics(registry or CollectorRegistry())
    tracker = DriftTracker(
        reference_loader,
        metrics,
        reports_dir=settings.reports_dir,
        columns=columns,
        window=settings.drift_window,
        keep=settings.drift_keep,
        interval_s=interval_s,
        min_samples=min_samples,
        table=table,
    )
    # auto_commit commits the offsets stored below, per batch (the kernel's consumer stores none)
    consumer = make_consumer(settings, group_id, auto_commit=True)
    producer = Producer(client_config(settings))
    server = None
    stats = SidecarStats()
    with stop_on_signals(stop, "the current report"):
        try:
            check_topics(consumer, [settings.topic_samples, settings.topic_drift])
            if settings.metrics_port:
                server = serve_reports(
                    settings.metrics_port, metrics.registry, settings.reports_dir, name="drift-http"
                )
            consumer.subscribe([settings.topic_samples])
            last_record = time.monotonic()
            while not stop.is_set():
                msgs = consumer.consume(CONSUME_BATCH, timeout=POLL_TIMEOUT_S)
                now = time.monotonic()
                records = consumed(msgs)
                if records:  # stored before the batch is used: at-most-once (module docstring)
                    consumer.store_offsets(offsets=next_offsets(records))
                for record in records:
                    sample = decode_sample(record)
                    if sample is None:
                        stats.invalid += 1
                        metrics.drop("invalid")
                        continue
                    stats.consumed += 1
                    tracker.add(sample, now)
                if msgs:
                    last_record = now
                for version in tracker.due(now):
                    _stored, event = tracker.report(version, now)
                    stats.reports += 1
                    if event is not None:
                        publish_event(producer, settings.topic_drift, event)
                        stats.events += 1
                    if max_runs is not None and stats.reports >= max_runs:
                        stop.set()
                        break
                if idle_timeout_s is not None and now - last_record >= idle_timeout_s:
                    log.info("no sample for %.1fs: stopping", idle_timeout_s)
                    break
        finally:
            consumer.close()
            if server is not None:
                server.shutdown()
                server.server_close()
    log.info("drift sidecar stopped: %s", stats)
    return stats


def decode_sample(record: InRecord) -> Sample | None:
    """The record's ``Sample``, or None (with a log line) when it is not a valid sample."""
    try:
        return Sample.model_validate_json(record.value or b"")
    except ValidationError as exc:
        first = exc.errors()[0]
        log.warning(
            "skipping invalid sample at %s[%s]@%s: %s at %s (%d error(s))",
            record.topic,
            record.partition,
            record.offset,
            first["msg"],
            ".".join(str(p) for p in first["loc"]) or "<root>",
            exc.error_count(),
        )
        return None
