"""The Kafka ceiling: the worker's consume -> produce -> commit cycle with no processing at all.

Same librdkafka settings as the worker (``core.kafka``), same batch size and wait, same
at-least-once protocol: consume a batch, produce each value unchanged to the output topic, flush
(wait for every acknowledgement), store the batch's offsets. Whatever the worker does on top of
this is what its processing costs; nothing on this machine can go faster through this client.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from confluent_kafka import Consumer, Producer

from benchmarks.data import count_tx
from benchmarks.infra import load_input, read_topic
from benchmarks.report import VariantResult
from benchmarks.stats import steady_rate
from core.kafka import DeliveryTracker, make_consumer, make_producer, poll_batch
from core.records import next_offsets, to_records
from core.settings import Settings
from simulator.events import Outgoing


def passthrough(
    consumer: Consumer,
    producer: Producer,
    *,
    source: str,
    sink: str,
    max_events: int,
    batch: int,
    wait_s: float,
    on_progress: Callable[[int], None] = lambda _n: None,
    idle_timeout_s: float = 30.0,
) -> int:
    """Copy ``max_events`` records from ``source`` to ``sink``; the number copied."""
    consumer.subscribe([source])
    done, idle_since = 0, time.monotonic()
    try:
        while done < max_events:
            records = to_records(poll_batch(consumer, batch, wait_s))
            if not records:
                if time.monotonic() - idle_since > idle_timeout_s:
                    break
                continue
            idle_since = time.monotonic()
            tracker = DeliveryTracker()
            for r in records:
                while True:
                    try:
                        producer.produce(sink, r.value, r.key, on_delivery=tracker)
                        break
                    except BufferError:
                        producer.poll(0.05)
            producer.flush(30)
            tracker.check()
            consumer.store_offsets(offsets=next_offsets(records))
            done += len(records)
            on_progress(done)
    finally:
        if done:
            consumer.commit(asynchronous=False)  # as the worker does before leaving the group
        consumer.close()
    return done


def run_passthrough(
    s: Settings,
    records: Sequence[Outgoing],
    *,
    loaded: Callable[[int], None],
    copied: Callable[[int], None],
) -> VariantResult:
    """Pre-load the transactions, copy them in this process, measure the output rate."""
    txs = [r for r in records if r.kind == "transaction"]
    n = count_tx(txs)
    load_input(s, txs, loaded)
    cpu0, t0 = time.process_time(), time.monotonic()
    done = passthrough(
        make_consumer(s),
        make_producer(s),
        source=s.topic_transactions,
        sink=s.topic_scores,
        max_events=n,
        batch=s.batch_max_events,
        wait_s=s.batch_max_ms / 1000,
        on_progress=copied,
    )
    wall, cpu = time.monotonic() - t0, time.process_time() - cpu0
    times = [o.timestamp_ms for o in read_topic(s, s.topic_scores)]
    rate = steady_rate(times)
    return VariantResult(
        key="passthrough",
        name="passthrough (Kafka ceiling)",
        events=n,
        outputs=len(times),
        events_per_s=rate.events_per_s if rate else None,
        duplicates=max(0, len(times) - done),
        wall_s=wall,
        cpu_s=cpu,
        note=f"in-process, worker's client settings and batch size ({s.batch_max_events} / "
        f"{s.batch_max_ms} ms); {done / wall:,.0f} events/s by the loop's own clock",
    )
