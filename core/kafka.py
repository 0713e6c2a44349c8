"""Kafka client wiring: the librdkafka properties we rely on, and delivery tracking.

Every non-default key has a comment saying why. Users' own properties (SASL, SSL, tuning) come
from ``Settings.kafka_config`` and are applied first, so ours are the ones that guarantees depend
on and theirs cannot silently weaken them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._config import ConfigResource  # not re-exported for mypy
from confluent_kafka.admin._metadata import ClusterMetadata
from confluent_kafka.admin._resource import ResourceType

from core.errors import StartupError
from core.kafka_errors import SILENT_LOG, ErrorLatch, client_config, diagnose_client
from core.settings import DeliveryMode, Settings

log = logging.getLogger(__name__)


class DeliveryFailed(Exception):
    """The broker did not acknowledge an output; nothing past it may be committed."""


SESSION_TIMEOUT_MS = 10_000


def consumer_config(
    settings: Settings, group_id: str | None = None, *, auto_commit: bool | None = None
) -> dict[str, Any]:
    if auto_commit is None:
        auto_commit = settings.delivery is DeliveryMode.AT_LEAST_ONCE
    conf = client_config(settings)
    conf.update(
        {
            "group.id": group_id or settings.group_id,
            # Offsets are stored by us, after the batch's outputs are acknowledged; the periodic
            # auto-commit then commits only what was stored (at-least-once).
            "enable.auto.offset.store": False,
            "enable.auto.commit": auto_commit,  # exactly-once commits offsets in the transaction
            "auto.offset.reset": "earliest",  # a new group starts at the beginning: nothing skipped
            "partition.assignment.strategy": "cooperative-sticky",  # rebalances move few partitions
            "isolation.level": "read_committed",  # never score an aborted upstream transaction
            # A fetch is a long poll that the broker answers as soon as a record arrives, so
            # this bounds only how often an idle consumer asks again: short enough to notice
            # a new partition leader soon, long enough not to keep the broker busy.
            "fetch.wait.max.ms": 100,
            "enable.partition.eof": False,
        }
    )
    # After a crash, at-least-once redoes the work since the last commit of stored offsets:
    # librdkafka's default of 5 s of it; 1 s costs one small request a second. Passthrough wins.
    conf.setdefault("auto.commit.interval.ms", 1000)
    # A worker that dies without leaving the group holds its partitions until its session
    # times out: 10 s instead of librdkafka's 45 s, heartbeats from librdkafka's own thread
    # (a busy interpreter does not delay them). Passthrough wins.
    conf.setdefault("session.timeout.ms", SESSION_TIMEOUT_MS)
    conf.setdefault("heartbeat.interval.ms", SESSION_TIMEOUT_MS // 3)
    return conf


def producer_config(settings: Settings, transactional_id: str | None = None) -> dict[str, Any]:
    conf = client_config(settings)
    conf.update(
        {
            "acks": "all",  # an output counts as delivered only once the ISR has it
            "enable.idempotence": True,  # broker-side dedup of producer retries
            "linger.ms": 2,  # small batches: we flush per micro-batch anyway
            "compression.type": "lz4",
            "queue.buffering.max.messages": 200_000,
        }
    )
    if transactional_id:
        conf["transactional.id"] = transactional_id
        # An orphaned transaction blocks read_committed readers less; FRAUDSCORE_KAFKA_CONFIG
        # may set it (it also bounds how long a batch's outputs may wait for acknowledgements).
        conf.setdefault("transaction.timeout.ms", 30_000)
    return conf


class DeliveryTracker:
    """Latches the first delivery error; ``check`` raises it before anything is committed."""

    def __init__(self) -> None:
        self.error: KafkaError | None = None
        self.delivered = 0

    def __call__(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            if self.error is None:
                self.error = err
                log.error("delivery to %s failed: %s", msg.topic(), err)
        else:
            self.delivered += 1

    def check(self) -> None:
        if self.error is not None:
            raise DeliveryFailed(f"output not acknowledged: {self.error}")


def make_consumer(
    settings: Settings, group_id: str | None = None, *, auto_commit: bool | None = None
) -> Consumer:
    return Consumer(consumer_config(settings, group_id, auto_commit=auto_commit))


def make_producer(settings: Settings, transactional_id: str | None = None) -> Producer:
    return Producer(producer_config(settings, transactional_id))


def committed(
    consumer: Consumer, partitions: list[TopicPartition], attempts: int = 6
) -> list[TopicPartition]:
    """Committed offsets, retried with backoff: a group coordinator that is still loading or
    has just moved answers NOT_COORDINATOR / COORDINATOR_LOAD_IN_PROGRESS for a moment."""
    result: list[TopicPartition] = _retrying(
        "committed offsets", lambda: consumer.committed(partitions, timeout=10), attempts
    )
    return result


def watermarks(consumer: Consumer, tp: TopicPartition, attempts: int = 6) -> tuple[int, int]:
    """A partition's low and high watermarks, asked of its leader and retried with backoff: a
    topic just created, or a leader just moved, answers NOT_LEADER_FOR_PARTITION for a moment."""
    low, high = _retrying(
        "watermark offsets",
        lambda: consumer.get_watermark_offsets(tp, timeout=10, cached=False),
        attempts,
    )
    return int(low), int(high)


T = TypeVar("T")

_SETTLING = (
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,  # a topic this young is not in every cache yet
)


def _retrying(what: str, call: Callable[[], T], attempts: int) -> T:
    """``call()``, again after 0.1, 0.2, 0.4 ... s while the cluster answers that it is still
    settling (retriable errors, coordinators and leaders moving); other errors raise at once."""
    delay = 0.1
    for attempt in range(attempts):
        try:
            return call()
        except KafkaException as exc:
            err: KafkaError = exc.args[0]
            if attempt == attempts - 1 or not (err.retriable() or err.code() in _SETTLING):
                raise
            log.info("%s not available yet (%s); retrying", what, err.str())
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
    raise AssertionError("unreachable")


def raise_for_message_error(msg: Message) -> None:
    """Partition EOF and transient errors are informational; a fatal error raises."""
    err = msg.error()
    if err is None or err.code() == KafkaError._PARTITION_EOF:
        return
    if err.fatal():
        raise KafkaException(err)
    log.warning("consumer: %s", err)


IDLE_POLL_S = 0.1  # how long an idle loop blocks for its next record (health, labels, stop)


def poll_batch(consumer: Consumer, max_events: int, linger_s: float) -> list[Message]:
    """The next micro-batch: block (up to ``IDLE_POLL_S``) for its first record, then take
    what has arrived, waiting up to ``linger_s`` for it to reach ``max_events``.

    The linger counts from the first record, not from the call: at a low rate a record waits at
    most ``linger_s`` for company, and under load batches grow by themselves (records pile up
    while the previous batch is processed), so per-batch costs shrink per event exactly when
    throughput matters. ``consume(n, t)`` alone would hold every record for the whole ``t``.
    """
    first: list[Message] = consumer.consume(1, IDLE_POLL_S)
    if not first or max_events == 1:
        return first
    rest: list[Message] = consumer.consume(max_events - 1, linger_s)
    return first + rest


def missing_topics(
    client: Consumer | AdminClient, topics: Sequence[str], timeout_s: float = 10.0
) -> list[str]:
    """The ``topics`` the cluster behind ``client`` does not have; ``KafkaException`` when it does
    not answer within ``timeout_s`` (for callers that word their own start-up errors)."""
    meta = client.list_topics(timeout=timeout_s)
    return [t for t in topics if t not in meta.topics]


def check_topics(settings: Settings, topics: list[str], group: str | None = None) -> None:
    """Fail at start-up, with one line, when Kafka cannot be used: unreachable (why: DNS, a
    refused port, TLS, authentication), a topic missing, or not allowed (ACLs) to describe a
    topic or the consumer ``group``."""
    latch = ErrorLatch()
    try:
        admin = AdminClient(client_config(settings, logger=SILENT_LOG, error_cb=latch))
    except KafkaException as exc:  # librdkafka refuses the properties themselves
        raise StartupError(
            f"FRAUDSCORE_KAFKA_CONFIG (with FRAUDSCORE_KAFKA_* secrets) is not a working "
            f"librdkafka configuration: {exc.args[0].str()}"
        ) from exc
    bootstrap = settings.kafka_bootstrap_servers
    try:
        meta = admin.list_topics(timeout=10)
        # a topic the client may not describe is left out of the full list: ask for it alone,
        # so "missing" and "not allowed" are told apart
        absent = [t for t in topics if t not in meta.topics]
        denied = [t for t in absent if _denied(admin.list_topics(topic=t, timeout=10), t)]
        if group is not None and not absent:
            _retrying(
                "consumer group",  # a coordinator still loading answers for a moment
                lambda: admin.describe_consumer_groups([group], request_timeout=10)[group].result(),
                10,  # about 11 s: a fresh cluster's offsets topic loads that long under load
            )
    except KafkaException as exc:
        admin.poll(0)  # serve the error callbacks queued so far
        found = diagnose_client(settings, [*latch.errors, exc.args[0]])
        raise StartupError(found.sentence(bootstrap)) from exc
    if denied:
        raise StartupError(
            f"Kafka at {bootstrap}: not allowed to describe topics {denied}: grant the ACLs "
            "listed in docs/operations.md (Kafka ACLs)"
        )
    if missing := [t for t in absent if t not in denied]:
        raise StartupError(f"topics missing: {missing}; create them (`fraudscore services topics`)")


def _denied(meta: ClusterMetadata, topic: str) -> bool:
    found = meta.topics.get(topic)
    err = found.error if found is not None else None
    return err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def retention_ms(settings: Settings, topics: Sequence[str]) -> dict[str, int | None]:
    """Each topic's ``retention.ms`` (-1: kept forever); None where it could not be read (no
    DescribeConfigs grant, a broker not answering): the caller words its own warning."""
    admin = AdminClient(client_config(settings, logger=SILENT_LOG))
    asked = {t: ConfigResource(ResourceType.TOPIC, t) for t in topics}
    found: dict[str, int | None] = dict.fromkeys(topics)
    try:
        futures = admin.describe_configs(list(asked.values()), request_timeout=10)
    except KafkaException:
        return found
    for topic, resource in asked.items():
        try:
            entry = futures[resource].result(timeout=15).get("retention.ms")
        except (KafkaException, TimeoutError):
            continue
        if entry is not None and entry.value is not None:
            found[topic] = int(entry.value)
    return found
