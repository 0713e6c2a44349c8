"""Input streams and producing them, for the fault tests.

- ``Stream``: a seeded simulated stream (transactions and their labels) encoded once per session;
  tests produce prefixes of it to their own topics, so every run is deterministic.
- ``produce`` / ``Feeder``: all at once, or paced in a thread ("under load"); ``feed`` produces
  a stream's labels, then its transactions.

Reading the outputs back while faults happen, and the audit, are in ``readback``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from confluent_kafka import KafkaError, Message, Producer

from simulator.config import SimulationConfig
from simulator.events import event_stream
from simulator.generate import generate
from tests.faults.harness import Scenario, require

# ~104k transactions (and ~760 labels) over six weeks; the model comes from the e2e fixture.
BIG_CONFIG = SimulationConfig(n_customers=1300, n_terminals=2600, n_days=42, seed=11)
ID_PREFIX = "fx-"  # letters only: digits before the number could make ids look like PANs


@dataclass(frozen=True)
class Stream:
    """Records in event-time order: (kind, key, value) with kind "transaction" or "label"."""

    df: pd.DataFrame
    records: tuple[tuple[str, bytes, bytes], ...]

    @classmethod
    def generate(cls, config: SimulationConfig = BIG_CONFIG) -> Stream:
        df = generate(config)
        out = tuple((o.kind, o.key, o.value) for o in event_stream(df, ID_PREFIX))
        return cls(df, out)

    def head(self, transactions: int) -> Stream:
        """The stream up to its ``transactions``-th transaction (labels due by then included)."""
        seen = 0
        for i, (kind, _, _) in enumerate(self.records):
            seen += kind == "transaction"
            if seen == transactions:
                return Stream(self.df, self.records[: i + 1])
        return self

    def transactions(self) -> list[tuple[bytes, bytes]]:
        return [(k, v) for kind, k, v in self.records if kind == "transaction"]

    def labels(self) -> list[tuple[bytes, bytes]]:
        return [(k, v) for kind, k, v in self.records if kind == "label"]

    def event_ids(self) -> set[str]:
        return {json.loads(v)["event_id"] for _, v in self.transactions()}


PRODUCER_CONF = {
    "enable.idempotence": True,
    "linger.ms": 20,
    "compression.type": "lz4",
    "queue.buffering.max.messages": 500_000,
}


def produce(
    kafka: str,
    topic: str,
    items: Sequence[tuple[bytes | None, bytes | None]],
    *,
    config: dict[str, Any] | None = None,
) -> list[tuple[int, int]]:
    """Produce and wait for every acknowledgement; the (partition, offset) of each item."""
    producer = Producer({"bootstrap.servers": kafka, **PRODUCER_CONF, **(config or {})})
    where: list[tuple[int, int]] = [(-1, -1)] * len(items)
    errors: list[str] = []

    def report(i: int) -> Any:
        def cb(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                errors.append(str(err))
            else:
                where[i] = (msg.partition() or 0, msg.offset() or 0)

        return cb

    for i, (key, value) in enumerate(items):
        while True:
            try:
                producer.produce(topic, value, key, on_delivery=report(i))
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    require(producer.flush(120) == 0, "input not acknowledged within 120 s")
    require(not errors, f"input delivery failed: {errors[:3]}")
    return where


class Feeder(threading.Thread):
    """Produces items at ``rate`` per second in the background (load during a fault)."""

    def __init__(
        self, kafka: str, topic: str, items: Sequence[tuple[bytes, bytes]], rate: float
    ) -> None:
        super().__init__(name="feeder", daemon=True)
        self.producer = Producer({"bootstrap.servers": kafka, **PRODUCER_CONF, "linger.ms": 5})
        self.topic, self.items, self.rate = topic, items, rate
        self.sent = 0
        self.errors: list[str] = []
        self.stopped = threading.Event()

    def _cb(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self.errors.append(str(err))

    def run(self) -> None:
        t0 = time.monotonic()
        for key, value in self.items:
            if self.stopped.is_set():
                break
            while True:
                try:
                    self.producer.produce(self.topic, value, key, on_delivery=self._cb)
                    break
                except BufferError:
                    self.producer.poll(0.1)
            self.sent += 1
            while (ahead := t0 + self.sent / self.rate - time.monotonic()) > 0:
                self.producer.poll(ahead)
        self.producer.flush(300)

    def finish(self, timeout_s: float) -> None:
        self.join(timeout_s)
        require(not self.is_alive(), "the feeder did not finish")
        require(not self.errors, f"input delivery failed: {self.errors[:3]}")


def feed(sc: Scenario, stream: Stream) -> set[str]:
    """Produce the labels, then the transactions, of ``stream``; the transaction ids."""
    produce(sc.kafka, sc.topic("labels"), stream.labels())
    produce(sc.kafka, sc.tx, stream.transactions())
    return stream.event_ids()
