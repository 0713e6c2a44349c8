"""Which real Kafka and Redis the tests and the demo talk to.

One rule, in order:

1. explicit addresses from the environment (``FRAUDSCORE_KAFKA_BOOTSTRAP_SERVERS`` and
   ``FRAUDSCORE_REDIS_URL``, both set) — nothing is started or created;
2. testcontainers, when it is installed (the ``docker`` extra) and a Docker engine answers a
   ping within a couple of seconds;
3. the locally started processes (``devstack.up``), which need only java, mvn and redis-server.

There are no mocks anywhere in this rule: every branch yields a real broker and a real Redis.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from devstack.errors import DevstackError
from devstack.settings import DevstackSettings
from devstack.stack import up
from devstack.topics import DEFAULT_TOPICS, ensure_topics

Source = Literal["env", "testcontainers", "local"]

# The testcontainers Kafka class drives Confluent's image scripts, so it needs a cp-kafka image;
# 7.6 (Apache Kafka 3.6) is the library's tested default and supports KRaft.
KAFKA_IMAGE = "confluentinc/cp-kafka:7.6.0"
REDIS_IMAGE = "redis:7-alpine"


@dataclass(frozen=True)
class Services:
    """Addresses of a real Kafka and Redis, and how to release them."""

    kafka_bootstrap: str
    redis_url: str
    source: Source
    closers: tuple[Callable[[], None], ...] = field(default=(), repr=False, compare=False)

    def close(self) -> None:
        """Stop what ``resolve_services`` started for this object.

        Containers are stopped. Local processes are shared with other sessions and engineers, so
        they stay up (``fraudscore services down`` stops them).
        """
        for closer in reversed(self.closers):
            closer()


def resolve_services(settings: DevstackSettings | None = None) -> Services:
    """Apply the selection rule in the module docstring and return ready services."""
    settings = settings or DevstackSettings()
    explicit = from_environment(settings)
    if explicit is not None:
        return explicit
    if containers_installed() and docker_available():
        return start_containers()
    return start_local(settings)


def from_environment(settings: DevstackSettings) -> Services | None:
    """Explicit addresses, only when both are given (half a configuration is ignored)."""
    if settings.kafka_bootstrap_servers and settings.redis_url:
        return Services(settings.kafka_bootstrap_servers, settings.redis_url, "env")
    return None


def containers_installed() -> bool:
    """True when testcontainers is importable.

    It is the optional ``docker`` extra, which the service image leaves out; without it the rule
    goes on to the local processes, as it does when no Docker engine answers.
    """
    return importlib.util.find_spec("testcontainers") is not None


def docker_available(timeout_s: int = 2) -> bool:
    """True when a Docker engine answers a ping quickly; any failure means no."""
    try:
        import docker  # type: ignore[import-untyped]

        client = docker.from_env(timeout=timeout_s)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def _container_classes() -> tuple[Any, Any]:
    """The Kafka and Redis container classes, from wherever this testcontainers version has them.

    Newer versions moved them to ``testcontainers.community`` and deprecated the old paths.
    """
    try:
        from testcontainers.community.kafka import KafkaContainer
        from testcontainers.community.redis import RedisContainer
    except ImportError:
        from testcontainers.kafka import KafkaContainer
        from testcontainers.redis import RedisContainer
    return KafkaContainer, RedisContainer


def start_containers() -> Services:
    """Start a KRaft Kafka and a Redis container, create the default topics, return them."""
    kafka_cls, redis_cls = _container_classes()
    kafka = kafka_cls(KAFKA_IMAGE).with_kraft()
    redis = redis_cls(REDIS_IMAGE)
    closers: list[Callable[[], None]] = []
    try:
        kafka.start()
        closers.append(kafka.stop)
        redis.start()
        closers.append(redis.stop)
        bootstrap: str = kafka.get_bootstrap_server()
        host, port = redis.get_container_host_ip(), redis.get_exposed_port(redis.port)
        ensure_topics(bootstrap, DEFAULT_TOPICS)
    except Exception as exc:
        _close_quietly(closers)
        if isinstance(exc, DevstackError):
            raise
        raise DevstackError(f"testcontainers could not start Kafka/Redis: {exc}") from exc
    return Services(bootstrap, f"redis://{host}:{port}/0", "testcontainers", tuple(closers))


def _close_quietly(closers: list[Callable[[], None]]) -> None:
    """Best-effort cleanup after a failed start; the start error is the one worth reporting."""
    for closer in reversed(closers):
        with contextlib.suppress(Exception):
            closer()


def start_local(settings: DevstackSettings) -> Services:
    """The locally started processes; nothing to close, they are shared (see ``close``)."""
    stack = up(settings)
    return Services(stack.kafka.address, stack.redis.address, "local")
