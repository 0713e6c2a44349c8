"""The monitors' edges without a broker: records, publishing events, signals, the HTTP server."""

from __future__ import annotations

import io
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, Message
from prometheus_client import CollectorRegistry

from core.messages import Sample
from core.records import InRecord
from core.signals import stop_on_signals
from monitoring.drift.sidecar import decode_sample
from monitoring.drift.summary import DriftEvent
from monitoring.edges import consumed, publish_event, serve_reports
from monitoring.errors import BrokerError, MonitoringError
from monitoring.index_page import write_index

SAMPLE = Sample(
    event_id="e1",
    event_time=datetime(2025, 1, 1, tzinfo=UTC),
    model_version="v1",
    score=0.25,
    features={"amount": 12.5},
)


def record(value: bytes | None) -> InRecord:
    return InRecord("fraud.samples", 0, 7, 0, None, value)


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
        assert consumed([Message(error=KafkaError(KafkaError._PARTITION_EOF))]) == []
        assert caplog.text == ""
        assert consumed([Message(error=KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART))]) == []
        assert "consumer:" in caplog.text
    with pytest.raises(BrokerError, match="consumer failed"):
        consumed([Message(error=KafkaError(KafkaError._FATAL, fatal=True))])


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
    with stop_on_signals(stop):
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(2.0)
    assert signal.getsignal(signal.SIGTERM) == before


class Connection:
    """One request's bytes in, the response's bytes out: the server's handler without a socket
    (unit tests connect nowhere; ``finish_request`` hands the handler this instead)."""

    def __init__(self, request: bytes) -> None:
        self.rfile, self.sent = io.BytesIO(request), io.BytesIO()

    def makefile(self, mode: str, *_args: Any) -> io.BytesIO:
        return self.rfile

    def sendall(self, data: bytes) -> None:
        self.sent.write(data)


def ask(server: ThreadingHTTPServer, path: str, method: str = "GET") -> tuple[int, str, bytes]:
    """Status, Content-Type and body of one request handled by ``server``."""
    conn = Connection(f"{method} {path} HTTP/1.0\r\n\r\n".encode())
    server.finish_request(conn, ("127.0.0.1", 0))  # type: ignore[arg-type]
    head, _, body = conn.sent.getvalue().partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    fields = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), fields.get("Content-Type", ""), body


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ThreadingHTTPServer]:
    """The monitors' server on the reports folder ``tmp_path/reports``, with a file above it."""
    write_index(tmp_path / "reports")
    (tmp_path / "secret.txt").write_text("not served")
    server = serve_reports(0, CollectorRegistry(), tmp_path / "reports", host="127.0.0.1")
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_http_serves_metrics_health_and_reports(served: ThreadingHTTPServer) -> None:
    status, content_type, _ = ask(served, "/metrics")
    assert status == 200 and "text/plain" in content_type
    assert ask(served, "/healthz")[::2] == (200, b"ok\n")
    status, _, page = ask(served, "/")
    assert status == 200 and b"fraudscore drift reports" in page
    status, _, body = ask(served, "/index.html", "HEAD")
    assert status == 200 and body == b""


@pytest.mark.parametrize(
    "path", ["/../secret.txt", "/../../etc/passwd", "/%2e%2e/secret.txt", "/..%2fsecret.txt"]
)
def test_nothing_above_the_reports_folder_is_served(served: ThreadingHTTPServer, path: str) -> None:
    status, _, body = ask(served, path)
    assert status == 404 and b"not served" not in body


def test_the_server_is_read_only(served: ThreadingHTTPServer) -> None:
    assert ask(served, "/index.html", "POST")[0] == 501
    assert ask(served, "/index.html", "DELETE")[0] == 501


def test_a_busy_port_is_one_monitoring_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(MonitoringError, match=f"cannot serve on port {port}"):
            serve_reports(port, CollectorRegistry(), tmp_path, host="127.0.0.1")
