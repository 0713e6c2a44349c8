"""What the loop talks to, handed in: its Kafka clients and its clocks.

``Worker`` builds nothing that touches the network, so unit tests drive it with in-memory fakes
and the real clients are built here, from settings, by ``clients``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from confluent_kafka import Consumer, Producer

from core.kafka import make_consumer, make_producer
from core.settings import DeliveryMode, Settings
from features.online import OnlineStore
from worker.labels import LabelFeed


class Clock(Protocol):
    """The loop's two clocks (the ``time`` module is one): idle timeouts and score latency."""

    def monotonic(self) -> float: ...

    def time(self) -> float: ...


@dataclass
class Clients:
    """The loop's Kafka clients: the group consumer, the producer, the labels feed."""

    consumer: Consumer
    producer: Producer
    labels: LabelFeed


def clients(settings: Settings, store: OnlineStore) -> Clients:
    """The worker's real Kafka clients: the group consumer, a producer (transactional in
    exactly-once mode, its id stable per worker so a restart fences its predecessor) and a
    consumer of every label partition under a group of its own."""
    s = settings
    eos = s.delivery is DeliveryMode.EXACTLY_ONCE
    txid = f"fraudscore-{s.group_id}-{s.worker_id}" if eos else None
    labels = make_consumer(s, group_id=f"{s.group_id}-labels-{s.worker_id}", auto_commit=True)
    return Clients(
        consumer=make_consumer(s),
        producer=make_producer(s, txid),
        labels=LabelFeed(labels, store, s.topic_labels),
    )
