"""Unit tests of devstack's topic creation and of the service selection order. No sockets."""

from __future__ import annotations

import sys
from concurrent.futures import Future
from typing import Any, ClassVar

import pytest
from confluent_kafka import KafkaError, KafkaException

from core import topics as core_topics
from devstack import select, topics
from devstack.errors import DevstackError, TopicError
from devstack.settings import DevstackSettings
from devstack.topics import DEFAULT_TOPICS, TopicSpec
from tests.unit.devstack_fixtures import clean_env, devstack_settings, running_stack  # noqa: F401  (two fixtures)

# --- topics -----------------------------------------------------------------------------------


def test_default_topics() -> None:
    assert {t.name: t.partitions for t in DEFAULT_TOPICS} == {
        "payments.transactions": 4,
        "payments.transactions.dlq": 1,
        "fraud.alerts": 4,
        "fraud.scores": 4,
        "fraud.samples": 1,
        "fraud.labels": 1,
        "fraud.drift": 1,
    }


def _future(error: int | None) -> Future[None]:
    future: Future[None] = Future()
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(KafkaException(KafkaError(error)))
    return future


class _FakeAdmin:
    """Answers create_topics from a script of per-call error codes (None = created)."""

    script: ClassVar[list[dict[str, int | None]]] = []
    calls: ClassVar[list[list[str]]] = []

    def __init__(self, config: dict[str, Any]) -> None:
        pass

    def create_topics(self, new_topics: list[Any], **kwargs: Any) -> dict[str, Future[None]]:
        names = [t.topic for t in new_topics]
        _FakeAdmin.calls.append(names)
        answers = _FakeAdmin.script.pop(0)
        return {name: _future(answers[name]) for name in names}


@pytest.fixture
def fake_admin(monkeypatch: pytest.MonkeyPatch) -> type[_FakeAdmin]:
    monkeypatch.setattr(core_topics, "AdminClient", _FakeAdmin)  # devstack's wraps the kernel's
    monkeypatch.setattr("core.topics.time.sleep", lambda s: None)
    _FakeAdmin.script, _FakeAdmin.calls = [], []
    return _FakeAdmin


def test_ensure_topics_treats_existing_as_success(fake_admin: type[_FakeAdmin]) -> None:
    fake_admin.script = [{"a": None, "b": KafkaError.TOPIC_ALREADY_EXISTS}]
    assert topics.ensure_topics("x:1", [TopicSpec("a", 2), TopicSpec("b", 1)]) == ["a"]


def test_ensure_topics_retries_transient_errors(fake_admin: type[_FakeAdmin]) -> None:
    fake_admin.script = [{"a": None, "b": KafkaError._TRANSPORT}, {"b": None}]
    assert topics.ensure_topics("x:1", [TopicSpec("a", 2), TopicSpec("b", 1)]) == ["a", "b"]
    assert fake_admin.calls == [["a", "b"], ["b"]]


def test_ensure_topics_raises_on_real_errors(fake_admin: type[_FakeAdmin]) -> None:
    fake_admin.script = [{"a": KafkaError.INVALID_PARTITIONS}]
    with pytest.raises(TopicError, match="cannot create topic 'a'"):
        topics.ensure_topics("x:1", [TopicSpec("a", 0)])


# --- selection rule ---------------------------------------------------------------------------


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("must not be called")


def test_select_prefers_explicit_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUDSCORE_KAFKA_BOOTSTRAP_SERVERS", "broker:9092")
    monkeypatch.setenv("FRAUDSCORE_REDIS_URL", "redis://cache:6379/0")
    monkeypatch.setattr(select, "docker_available", _boom)
    monkeypatch.setattr(select, "up", _boom)
    found = select.resolve_services()
    assert (found.kafka_bootstrap, found.redis_url, found.source) == (
        "broker:9092",
        "redis://cache:6379/0",
        "env",
    )


def test_select_half_an_environment_is_ignored(
    monkeypatch: pytest.MonkeyPatch, settings: DevstackSettings
) -> None:
    monkeypatch.setenv("FRAUDSCORE_KAFKA_BOOTSTRAP_SERVERS", "broker:9092")
    monkeypatch.setattr(select, "docker_available", lambda: False)
    monkeypatch.setattr(select, "up", running_stack)
    assert select.resolve_services(settings).source == "local"


def test_select_uses_testcontainers_when_docker_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(select, "docker_available", lambda: True)
    monkeypatch.setattr(select, "up", _boom)
    started = select.Services("h:1", "redis://h:2/0", "testcontainers")
    monkeypatch.setattr(select, "start_containers", lambda: started)
    assert select.resolve_services() is started


def test_select_falls_back_to_local_without_docker(
    monkeypatch: pytest.MonkeyPatch, settings: DevstackSettings
) -> None:
    monkeypatch.setattr(select, "docker_available", lambda: False)
    monkeypatch.setattr(select, "start_containers", _boom)
    monkeypatch.setattr(select, "up", running_stack)
    found = select.resolve_services(settings)
    assert (found.kafka_bootstrap, found.redis_url, found.source) == (
        "127.0.0.1:31092",
        "redis://127.0.0.1:31379/0",
        "local",
    )
    found.close()  # shared local services stay up: nothing to call


def test_select_falls_back_to_local_without_testcontainers(
    monkeypatch: pytest.MonkeyPatch, settings: DevstackSettings
) -> None:
    monkeypatch.setitem(sys.modules, "testcontainers", None)  # as if the extra were not installed
    monkeypatch.setattr(select, "docker_available", lambda: True)
    monkeypatch.setattr(select, "start_containers", _boom)
    monkeypatch.setattr(select, "up", running_stack)
    assert not select.containers_installed()
    assert select.resolve_services(settings).source == "local"


def test_docker_available_is_false_when_the_client_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    import docker  # type: ignore[import-untyped]

    monkeypatch.setattr(docker, "from_env", _boom)
    assert select.docker_available() is False


class _FakeContainer:
    events: ClassVar[list[str]] = []

    def __init__(self, image: str) -> None:
        self.image, self.port, self.kraft = image, 6379, False

    def with_kraft(self) -> _FakeContainer:
        self.kraft = True
        return self

    def start(self) -> _FakeContainer:
        if "redis" in self.image and "fail" in _FakeContainer.events:
            raise RuntimeError("engine said no")
        _FakeContainer.events.append(f"start {self.image}")
        return self

    def stop(self) -> None:
        _FakeContainer.events.append(f"stop {self.image}")

    def get_bootstrap_server(self) -> str:
        assert self.kraft, "Kafka container must run in KRaft mode"
        return "localhost:55001"

    def get_container_host_ip(self) -> str:
        return "localhost"

    def get_exposed_port(self, port: int) -> int:
        return 55002


def test_start_containers_and_close(monkeypatch: pytest.MonkeyPatch) -> None:
    _FakeContainer.events = []
    monkeypatch.setattr(select, "_container_classes", lambda: (_FakeContainer, _FakeContainer))
    monkeypatch.setattr(select, "ensure_topics", lambda b, specs: [])
    found = select.start_containers()
    assert (found.kafka_bootstrap, found.redis_url) == (
        "localhost:55001",
        "redis://localhost:55002/0",
    )
    found.close()
    assert _FakeContainer.events[-2:] == [
        f"stop {select.REDIS_IMAGE}",
        f"stop {select.KAFKA_IMAGE}",
    ]


def test_start_containers_failure_cleans_up(monkeypatch: pytest.MonkeyPatch) -> None:
    _FakeContainer.events = ["fail"]
    monkeypatch.setattr(select, "_container_classes", lambda: (_FakeContainer, _FakeContainer))
    with pytest.raises(DevstackError, match="engine said no"):
        select.start_containers()
    assert _FakeContainer.events[-1] == f"stop {select.KAFKA_IMAGE}"


def test_container_classes_come_from_installed_testcontainers() -> None:
    kafka_cls, redis_cls = select._container_classes()
    assert hasattr(kafka_cls, "with_kraft") and hasattr(kafka_cls, "get_bootstrap_server")
    assert hasattr(redis_cls, "get_exposed_port")
