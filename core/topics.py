"""The project's topics and an idempotent way to create them.

Topic names here are the defaults; the worker's settings use the same names. Creating a topic that
already exists counts as success, so ``ensure_topics`` can run on every start and in compose's
one-shot init container (``fraudscore topics``, which the service image has: the local devstack
is not in it).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Literal

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic  # the admin module's re-export is invisible to mypy


class TopicError(Exception):
    """Topics could not be created on the broker (unreachable, or a bad spec)."""


@dataclass(frozen=True)
class TopicSpec:
    """One topic to create: name, partitions, replication and topic-level config."""

    name: str
    partitions: int
    replication_factor: int = 1
    config: Mapping[str, str] = field(default_factory=dict)

    def new_topic(self) -> NewTopic:
        """The AdminClient request object for this spec."""
        return NewTopic(
            self.name,
            num_partitions=self.partitions,
            replication_factor=self.replication_factor,
            config=dict(self.config),
        )


Outcome = Literal["created", "exists", "retry"]

# client-side errors that mean "broker not reachable yet", worth retrying until the deadline
_TRANSIENT = frozenset({KafkaError._TRANSPORT, KafkaError._TIMED_OUT, KafkaError._ALL_BROKERS_DOWN})

# The input topics are what a feature rebuild replays (decision/history.py: 44 days of them),
# so they are kept 90 days, not the broker's default 7; on a topic that exists already this is
# not applied (the worker warns at start-up; docs/operations.md says how to raise it).
INPUT_RETENTION = {"retention.ms": str(90 * 86_400_000)}

DEFAULT_TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec("payments.transactions", 4, config=INPUT_RETENTION),
    TopicSpec("payments.transactions.dlq", 1),
    TopicSpec("fraud.alerts", 4),
    TopicSpec("fraud.scores", 4),
    TopicSpec("fraud.samples", 1),
    TopicSpec("fraud.labels", 1, config=INPUT_RETENTION),
    TopicSpec("fraud.drift", 1),
)


def ensure_topics(bootstrap: str, specs: Iterable[TopicSpec], timeout_s: float = 30.0) -> list[str]:
    """Create the topics that do not exist yet; return the names created by this call.

    Retriable errors (e.g. the controller still electing itself right after start) are retried
    until ``timeout_s``; anything else raises TopicError naming the topic and the reason.
    """
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    pending = {spec.name: spec for spec in specs}
    created: list[str] = []
    deadline = time.monotonic() + timeout_s
    while pending:
        remaining = max(deadline - time.monotonic(), 1.0)
        futures = admin.create_topics(
            [spec.new_topic() for spec in pending.values()],
            operation_timeout=remaining,
            request_timeout=remaining,
        )
        for name, future in futures.items():
            outcome = _outcome(name, future, deadline)
            if outcome != "retry":
                del pending[name]
            if outcome == "created":
                created.append(name)
        if pending:
            time.sleep(0.5)
    return created


def _outcome(name: str, future: Future[None], deadline: float) -> Outcome:
    """Classify one topic's result; raise TopicError when it failed for good."""
    try:
        future.result()
        return "created"
    except KafkaException as exc:
        error: KafkaError = exc.args[0]
        if error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
            return "exists"
        if time.monotonic() < deadline and (error.retriable() or error.code() in _TRANSIENT):
            return "retry"
        raise TopicError(f"cannot create topic {name!r} on the broker: {error.str()}") from exc
