"""devstack on the real thing: a real broker from Maven jars and a real redis-server.

The default-port services are shared with every other test and engineer, so they are only ever
started here, never stopped; the stop/start cycle runs on its own services dir and ports.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_client
from confluent_kafka import Consumer, Message, Producer
from confluent_kafka.admin import AdminClient

from devstack import (
    DEFAULT_TOPICS,
    DevstackSettings,
    PortInUseError,
    TopicSpec,
    down,
    ensure_topics,
    status,
    up,
)
from devstack.process import port_open, read_pid

pytestmark = pytest.mark.integration

ISOLATED_PORTS = {"kafka_port": 29092, "kafka_controller_port": 29093, "redis_port": 26379}


def test_up_twice_is_a_no_op_the_second_time() -> None:
    first = up()
    second = up()
    assert first.running and second.running
    assert (second.kafka.pid, second.redis.pid) == (first.kafka.pid, first.redis.pid)
    assert not second.kafka.started and not second.redis.started


def test_status_reports_running() -> None:
    up()
    result = status()
    assert result.running
    assert all(service.pid for service in result.services)
    assert result.kafka.address == DevstackSettings().kafka_bootstrap


def test_default_topics_exist_with_their_partitions() -> None:
    bootstrap = up().kafka.address
    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
    for spec in DEFAULT_TOPICS:
        assert len(metadata.topics[spec.name].partitions) == spec.partitions


def test_topic_created_and_message_round_trips(kafka_bootstrap: str, unique_name: str) -> None:
    assert ensure_topics(kafka_bootstrap, [TopicSpec(unique_name, 2)]) == [unique_name]
    assert ensure_topics(kafka_bootstrap, [TopicSpec(unique_name, 2)]) == []

    producer = Producer({"bootstrap.servers": kafka_bootstrap, "acks": "all"})
    producer.produce(unique_name, key=b"card-1", value=b"hello")
    assert producer.flush(10) == 0

    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": unique_name,
            "auto.offset.reset": "earliest",  # the group is new: read what was just produced
        }
    )
    consumer.subscribe([unique_name])
    try:
        message = _first_message(consumer, timeout_s=30)
    finally:
        consumer.close()
    assert (message.key(), message.value()) == (b"card-1", b"hello")


def _first_message(consumer: Consumer, timeout_s: float) -> Message:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        message = consumer.poll(1.0)
        if message is not None and message.error() is None:
            return message
    raise AssertionError(f"no message within {timeout_s}s")


def test_redis_answers_ping(redis_url: str) -> None:
    client = redis_client.Redis.from_url(redis_url, socket_timeout=2)
    try:
        assert client.ping()
    finally:
        client.close()


@pytest.fixture
def isolated(tmp_path: Path) -> Iterator[DevstackSettings]:
    """A second stack on its own ports and directory, always torn down."""
    settings = DevstackSettings(
        services_dir=tmp_path / "services",
        kafka_port=ISOLATED_PORTS["kafka_port"],
        kafka_controller_port=ISOLATED_PORTS["kafka_controller_port"],
        redis_port=ISOLATED_PORTS["redis_port"],
    )
    for port in ISOLATED_PORTS.values():
        assert not port_open("127.0.0.1", port), f"port {port} is busy; cannot run this test"
    yield settings
    down(settings, grace_s=10)


def test_down_then_up_on_a_separate_stack(isolated: DevstackSettings) -> None:
    started = up(isolated, topics=())
    assert started.running and started.kafka.started and started.redis.started
    assert up(isolated, topics=()).kafka.pid == started.kafka.pid

    assert down(isolated, grace_s=10) == ["kafka", "redis"]
    after = status(isolated)
    assert not after.running and after.kafka.pid is None and after.redis.pid is None
    assert read_pid(isolated.state_dir() / "kafka" / "kafka.pid") is None
    assert not any(port_open("127.0.0.1", port) for port in ISOLATED_PORTS.values())
    assert down(isolated) == []

    again = up(isolated, topics=[TopicSpec("after.restart", 1)])  # storage formatted once, reused
    assert again.running and again.kafka.pid != started.kafka.pid


def test_port_held_by_a_stranger_is_refused(tmp_path: Path) -> None:
    with socket.socket() as stranger:
        stranger.bind(("127.0.0.1", 0))
        stranger.listen()
        port = stranger.getsockname()[1]
        settings = DevstackSettings(
            services_dir=tmp_path / "services",
            kafka_port=29192,
            kafka_controller_port=29193,
            redis_port=port,
        )
        with pytest.raises(PortInUseError, match=f"127.0.0.1:{port}"):
            up(settings)
    assert status(settings).kafka.pid is None  # refused before anything started


def test_a_cluster_id_starting_with_a_dash_formats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One random cluster id in 32 starts with "-"; passed as a separate argument, the storage
    tool took it for an option and `fraudscore services up` failed by chance."""
    from devstack import kafka
    from devstack.process import require_tool

    settings = DevstackSettings(services_dir=tmp_path / "services", **ISOLATED_PORTS)
    lib = kafka.ensure_jars(settings, None)
    paths = kafka.write_configs(settings)
    monkeypatch.setattr(kafka, "new_cluster_id", lambda: "-" + "a" * 21)
    kafka.format_storage(require_tool("java", "runs the Kafka broker"), lib, paths)
    meta = (paths.data / "meta.properties").read_text()
    assert "cluster.id=-aaaaaaaaaaaaaaaaaaaaa" in meta
