"""The sidecar's edges without a broker: decoding records, publishing events, signals."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from confluent_kafka import KafkaError, Message

from core.messages import Sample
from monitoring.drift.sidecar import _consumer_error, _stop_on_signals, decode_sample, publish_event
from monitoring.drift.summary import DriftEvent
from monitoring.errors import BrokerError

SAMPLE = Sample(
    event_id="e1",
    event_time=datetime(2025, 1, 1, tzinfo=UTC),
    model_version="v1",
    score=0.25,
    features={"amount": 12.5},
)


def record(value: bytes | None) -> Message:
    return Message(topic="fraud.samples", partition=0, offset=7, value=value)


def test_decode_a_sample() -> None:
    assert decode_sample(record(SAMPLE.model_dump_json().encode())) == SAMPLE


@pytest.mark.parametrize(
    "value",
    [
        b"",
        b"not json",
        b'{"event_id": "x"}',
        None,
        b'{"event_id":"e","event_time":"2025-01-01T00:00:00Z",'
        b'"model_version":"v","score":"high","features":{}}',
    ],
)
def test_bad_records_are_skipped_with_a_log_line(
    value: bytes | None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        assert decode_sample(record(value)) is None
    assert "skipping invalid sample at fraud.samples[0]@7" in caplog.text


def test_consumer_errors_raise_only_when_fatal(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        _consumer_error(Message(error=KafkaError(KafkaError._PARTITION_EOF)))
        assert caplog.text == ""
        _consumer_error(Message(error=KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART)))
        assert "consumer:" in caplog.text
    with pytest.raises(BrokerError, match="consumer failed"):
        _consumer_error(Message(error=KafkaError(KafkaError._FATAL, fatal=True)))


class FakeProducer:
    """Records produce calls; ``fail`` makes delivery fail, ``stuck`` leaves it undelivered."""

    def __init__(self, *, fail: bool = False, stuck: bool = False) -> None:
        self.fail, self.stuck = fail, stuck
        self.sent: list[tuple[str, bytes, bytes]] = []
        self._callbacks: list[Callable[[Any, Any], None]] = []

    def produce(
        self, topic: str, key: bytes, value: bytes, on_delivery: Callable[[Any, Any], None]
    ) -> None:
        self.sent.append((topic, key, value))
        self._callbacks.append(on_delivery)

    def flush(self, timeout: float) -> int:
        if self.stuck:
            return len(self._callbacks)
        for cb in self._callbacks:
            cb(KafkaError(KafkaError._MSG_TIMED_OUT) if self.fail else None, None)
        return 0


EVENT = DriftEvent(
    model_version="v1",
    status="drift",
    previous_status="no_drift",
    dataset_drift=True,
    share_drifted=0.6,
    drifted_columns=("amount",),
    score_drifted=False,
    score_psi=0.02,
    n_current=2000,
    window_start=None,
    window_end=None,
    report="x.html",
    created_at=datetime(2025, 1, 1, tzinfo=UTC),
)


def test_publish_event_waits_for_delivery() -> None:
    producer = FakeProducer()
    publish_event(producer, "fraud.drift", EVENT)  # type: ignore[arg-type]
    [(topic, key, value)] = producer.sent
    assert (topic, key) == ("fraud.drift", b"v1")
    assert DriftEvent.model_validate_json(value) == EVENT


@pytest.mark.parametrize("producer", [FakeProducer(fail=True), FakeProducer(stuck=True)])
def test_an_undelivered_event_raises(producer: FakeProducer) -> None:
    with pytest.raises(BrokerError, match="not delivered"):
        publish_event(producer, "fraud.drift", EVENT)  # type: ignore[arg-type]


def test_sigterm_sets_stop_and_the_handler_is_restored() -> None:
    before = signal.getsignal(signal.SIGTERM)
    stop = threading.Event()
    restore = _stop_on_signals(stop)
    os.kill(os.getpid(), signal.SIGTERM)
    assert stop.wait(2.0)
    restore()
    assert signal.getsignal(signal.SIGTERM) == before
