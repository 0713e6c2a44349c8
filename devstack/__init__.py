"""Real Kafka and Redis for tests and the demo, with or without Docker.

``up``/``down``/``status`` manage a broker run from Maven-resolved jars and a ``redis-server``
under ``$FRAUDSCORE_SERVICES_DIR`` (default ``./var/services``); ``resolve_services`` picks
environment addresses, testcontainers or those local processes; ``ensure_topics`` creates the
project's topics idempotently. Every expected failure is a ``DevstackError``.
"""

from devstack.errors import (
    DevstackError,
    JarResolutionError,
    PortInUseError,
    ServiceStartError,
    ToolMissingError,
    TopicError,
)
from devstack.kafka import KAFKA_VERSION
from devstack.select import Services, resolve_services
from devstack.settings import DevstackSettings
from devstack.stack import ServiceStatus, StackStatus, down, status, up
from devstack.topics import DEFAULT_TOPICS, TopicSpec, ensure_topics

__all__ = [
    "DEFAULT_TOPICS",
    "KAFKA_VERSION",
    "DevstackError",
    "DevstackSettings",
    "JarResolutionError",
    "PortInUseError",
    "ServiceStartError",
    "ServiceStatus",
    "Services",
    "StackStatus",
    "ToolMissingError",
    "TopicError",
    "TopicSpec",
    "down",
    "ensure_topics",
    "resolve_services",
    "status",
    "up",
]
