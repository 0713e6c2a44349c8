"""The drift sidecar's loop: ``fraud.samples`` in; reports, index, gauges and ``fraud.drift`` out.

``run_sidecar`` reads top to bottom (style.md #1); the window, Evidently and the store live in
``DriftTracker``, the Kafka clients are built here and nowhere else.

Delivery: samples are a statistical sample and the window lives in memory, so the consumer
auto-commits (at-most-once for samples is fine): a restarted sidecar continues from the committed
offset with an empty window. Its own consumer group (``fraudscore-drift``) reads every sample
independently of the workers; a new group starts at the oldest retained sample.

Its Kafka helpers (``check_topics``, ``publish_event``, ``_consumer_error``, ``_serve``,
``_stop_on_signals``) are shared with the performance monitor (``monitoring.performance.run``);
this module imports Evidently only inside ``run_sidecar``, so importing them stays cheap.

Bad input is data: a record that is not a valid ``Sample`` is counted
(``fraudscore_drift_samples_dropped_total{reason="invalid"}``), logged and skipped. Broken
infrastructure is an exception: a fatal consumer error or an undelivered drift event raises
``BrokerError`` and ends the loop.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from types import FrameType
from typing import TYPE_CHECKING, Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from core.messages import Sample
from core.settings import Settings
from features.registry import FEATURE_NAMES
from monitoring.drift.summary import DriftEvent
from monitoring.errors import BrokerError, MonitoringError
from monitoring.metrics import DriftMetrics, PerformanceMetrics
from monitoring.performance.types import PerformanceAlarm
from monitoring.serve import serve_http

if TYPE_CHECKING:
    from monitoring.drift.tracker import ReferenceLoader

log = logging.getLogger(__name__)

DRIFT_GROUP_ID = "fraudscore-drift"
CONSUME_BATCH = 500
POLL_TIMEOUT_S = 0.5
FLUSH_TIMEOUT_S = 10.0


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
    consumer = make_consumer(settings, group_id)
    producer = Producer(settings.kafka_common())
    server = None
    restore_signals = _stop_on_signals(stop)
    stats = SidecarStats()
    try:
        check_topics(consumer, [settings.topic_samples, settings.topic_drift])
        if settings.metrics_port:
            server = _serve(settings, metrics)
        consumer.subscribe([settings.topic_samples])
        last_record = time.monotonic()
        while not stop.is_set():
            records = consumer.consume(CONSUME_BATCH, timeout=POLL_TIMEOUT_S)
            now = time.monotonic()
            for record in records:
                if record.error() is not None:
                    _consumer_error(record)
                    continue
                sample = decode_sample(record)
                if sample is None:
                    stats.invalid += 1
                    metrics.drop("invalid")
                    continue
                stats.consumed += 1
                tracker.add(sample, now)
            if records:
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
        restore_signals()
        consumer.close()
        if server is not None:
            server.shutdown()
            server.server_close()
    log.info("drift sidecar stopped: %s", stats)
    return stats


def make_consumer(settings: Settings, group_id: str = DRIFT_GROUP_ID) -> Consumer:
    """The samples consumer (its non-default keys explained beside them)."""
    conf: dict[str, Any] = settings.kafka_common()
    conf.update(
        {
            "group.id": group_id,  # own group: reads every sample, independently of the workers
            "auto.offset.reset": "earliest",  # a new group starts at the oldest retained sample
            "enable.auto.commit": True,  # at-most-once is fine: the window lives in memory anyway
        }
    )
    return Consumer(conf)


def check_topics(consumer: Consumer, topics: Sequence[str], timeout_s: float = 15.0) -> None:
    """Fail at startup, in one line, when the broker is unreachable or a topic is missing."""
    try:
        metadata = consumer.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise BrokerError(f"cannot reach Kafka within {timeout_s:.0f}s: {exc}") from exc
    missing = [t for t in topics if t not in metadata.topics or metadata.topics[t].error]
    if missing:
        raise BrokerError(f"topic(s) missing on the broker: {', '.join(missing)}")


def decode_sample(record: Message) -> Sample | None:
    """The record's ``Sample``, or None (with a log line) when it is not a valid sample."""
    try:
        return Sample.model_validate_json(record.value() or b"")
    except ValidationError as exc:
        first = exc.errors()[0]
        log.warning(
            "skipping invalid sample at %s[%s]@%s: %s at %s (%d error(s))",
            record.topic(),
            record.partition(),
            record.offset(),
            first["msg"],
            ".".join(str(p) for p in first["loc"]) or "<root>",
            exc.error_count(),
        )
        return None


def publish_event(producer: Producer, topic: str, event: DriftEvent | PerformanceAlarm) -> None:
    """Produce one drift (or performance alarm) event keyed by model version; await delivery.

    The delivery callback latches the first error; ``flush`` bounds the wait. Either failure
    raises ``BrokerError``: an alert about drift that silently vanished is worse than a stop.
    """
    failures: list[KafkaError] = []

    def on_delivery(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            failures.append(err)

    try:
        producer.produce(
            topic,
            key=event.model_version.encode(),
            value=event.model_dump_json().encode(),
            on_delivery=on_delivery,
        )
    except (KafkaException, BufferError) as exc:
        raise BrokerError(f"cannot produce drift event to {topic}: {exc}") from exc
    remaining = producer.flush(FLUSH_TIMEOUT_S)
    if failures:
        raise BrokerError(f"drift event to {topic} not delivered: {failures[0]}")
    if remaining:
        raise BrokerError(f"drift event to {topic} not delivered within {FLUSH_TIMEOUT_S:.0f}s")
    log.info(
        "published drift event to %s: %s",
        topic,
        json.dumps(
            {
                "event": event.event,
                "model_version": event.model_version,
                "status": event.status,
                "previous_status": event.previous_status,
            }
        ),
    )


def _consumer_error(record: Message) -> None:
    """A fatal client error raises ``BrokerError``; others (e.g. a rebalance hiccup) are logged."""
    error = record.error()
    if error is None or error.code() == KafkaError._PARTITION_EOF:
        return
    if error.fatal():
        raise BrokerError(f"Kafka consumer failed: {error}") from KafkaException(error)
    log.warning("consumer: %s", error)


def _serve(
    settings: Settings, metrics: DriftMetrics | PerformanceMetrics, port: int | None = None
) -> ThreadingHTTPServer:
    port = settings.metrics_port if port is None else port
    try:
        return serve_http(settings.reports_dir, metrics.registry, port)
    except OSError as exc:
        raise MonitoringError(f"cannot serve on port {port}: {exc}") from exc


def _stop_on_signals(stop: threading.Event) -> Callable[[], None]:
    """Make SIGTERM/SIGINT set ``stop`` (main thread only); returns the undo function."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping after the current step", signum)
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore
