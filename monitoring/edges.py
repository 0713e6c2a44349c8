"""The two monitors' shared edges: the kernel's Kafka and HTTP plumbing, and ``fraud.drift``.

The drift sidecar and the performance monitor are separate processes with the same edges: they
check their topics at startup, turn consumed messages into records (``core.records``), serve
``/metrics``, ``/healthz``, ``/readyz`` and the reports folder on one port (``core.http``), and
publish events on ``fraud.drift``. Here the kernel's exceptions become the monitoring tree
(``BrokerError``, ``MonitoringError``), so the CLI prints each as one red line.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer
from prometheus_client import CollectorRegistry

from core import http
from core.kafka import missing_topics
from core.records import InRecord, to_records
from monitoring.errors import BrokerError, MonitoringError

if TYPE_CHECKING:
    from monitoring.drift.summary import DriftEvent
    from monitoring.performance.types import PerformanceAlarm

log = logging.getLogger(__name__)

FLUSH_TIMEOUT_S = 10.0


def check_topics(consumer: Consumer, topics: Sequence[str], timeout_s: float = 15.0) -> None:
    """Fail at startup, in one line, when the broker is unreachable or a topic is missing."""
    try:
        missing = missing_topics(consumer, topics, timeout_s)
    except KafkaException as exc:
        raise BrokerError(f"cannot reach Kafka within {timeout_s:.0f}s: {exc}") from exc
    if missing:
        raise BrokerError(f"topic(s) missing on the broker: {', '.join(missing)}")


def consumed(msgs: Sequence[Message]) -> list[InRecord]:
    """The batch's records; a fatal client error raises ``BrokerError``, others are logged."""
    try:
        return to_records(msgs)
    except KafkaException as exc:
        raise BrokerError(f"Kafka consumer failed: {exc}") from exc


def serve_reports(
    port: int,
    registry: CollectorRegistry,
    reports_dir: Path,
    *,
    host: str = "0.0.0.0",
    name: str = "monitoring-http",
) -> ThreadingHTTPServer:
    """Serve the gauges and the reports folder (GET and HEAD, nothing above it) on ``port``."""
    try:
        return http.serve(port, registry, directory=reports_dir, host=host, name=name)
    except OSError as exc:
        raise MonitoringError(f"cannot serve on port {port}: {exc}") from exc


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
