"""Shared pieces of the end-to-end tests: topic set-up, running a worker, reading topics back."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from core.settings import Settings
from devstack import TopicSpec, ensure_topics
from worker.guard import WorkerStats
from worker.run import run


def e2e_settings(
    kafka: str, redis_url: str, name: str, model_dir: Path, **extra: object
) -> Settings:
    """Settings with topics, group and Redis namespace of this test alone."""
    values: dict[str, object] = {
        "kafka_bootstrap_servers": kafka,
        "redis_url": redis_url,
        "group_id": f"{name}-workers",
        "worker_id": f"{name}-w1",
        "redis_key_prefix": name,
        "model_dir": model_dir,
        "topic_transactions": f"{name}.tx",
        "topic_dlq": f"{name}.dlq",
        "topic_alerts": f"{name}.alerts",
        "topic_scores": f"{name}.scores",
        "topic_samples": f"{name}.samples",
        "topic_labels": f"{name}.labels",
        "topic_drift": f"{name}.drift",
        # Functional tests on a shared 2-core machine: a generous Redis budget, so a load spike
        # is not mistaken for an outage (the fault tests exercise the tight default budgets).
        "redis_socket_timeout_ms": 1000,
    }
    values.update(extra)
    s = Settings(**values)  # type: ignore[arg-type]
    specs = [TopicSpec(s.topic_transactions, 4), TopicSpec(s.topic_labels, 1)]
    specs += [
        TopicSpec(t, 2)
        for t in (s.topic_dlq, s.topic_alerts, s.topic_scores, s.topic_samples, s.topic_drift)
    ]
    ensure_topics(kafka, specs)
    return s


@contextmanager
def running_worker(
    settings: Settings, *, wait_s: float = 240.0, **kwargs: object
) -> Iterator[dict[str, WorkerStats]]:
    """Run the real worker loop in a thread; on exit, wait for it to end by itself (its
    ``max_events`` or ``idle_timeout_s``) for up to ``wait_s``, then stop it."""
    stop = threading.Event()
    result: dict[str, WorkerStats] = {}
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result["stats"] = run(settings, stop=stop, **kwargs)  # type: ignore[arg-type]
        except BaseException as exc:  # surfaced in the test thread below
            errors.append(exc)

    thread = threading.Thread(target=target, name="worker", daemon=True)
    thread.start()
    try:
        yield result
    except BaseException:
        stop.set()
        thread.join(60)
        if errors:  # the worker's own failure explains the test's; show both
            raise errors[0] from None
        raise
    thread.join(wait_s)
    stop.set()
    thread.join(60)
    if errors:
        raise errors[0]
    assert not thread.is_alive(), "worker did not stop within 60 s"


def read_all(
    kafka: str,
    topic: str,
    *,
    committed_only: bool = True,
    timeout_s: float = 20.0,
    config: Mapping[str, Any] | None = None,
) -> list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]]:
    """Every record of a topic up to its current end: (key, value, headers). ``config``: more
    client properties (a secure cluster's login)."""
    c = Consumer(
        {
            "bootstrap.servers": kafka,
            "group.id": "reader",
            "enable.auto.commit": False,
            "isolation.level": "read_committed" if committed_only else "read_uncommitted",
            **(config or {}),
        }
    )
    try:
        meta = c.list_topics(topic, timeout=10).topics[topic]
        parts = [TopicPartition(topic, p, 0) for p in meta.partitions]
        ends = {tp.partition: c.get_watermark_offsets(tp, timeout=10)[1] for tp in parts}
        c.assign(parts)
        out: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]] = []
        done = {p for p, end in ends.items() if end == 0}
        deadline = time.monotonic() + timeout_s
        while len(done) < len(parts) and time.monotonic() < deadline:
            for m in c.consume(1000, 0.5):
                if m.error():
                    continue
                out.append((m.key(), m.value(), list(m.headers() or [])))
                if m.offset() + 1 >= ends[m.partition()]:
                    done.add(m.partition())
            for tp in c.position(parts):
                if tp.offset >= ends[tp.partition]:
                    done.add(tp.partition)
        return out
    finally:
        c.close()


def committed_at_end(kafka: str, group: str, topic: str) -> bool:
    c = Consumer({"bootstrap.servers": kafka, "group.id": group})
    try:
        meta = c.list_topics(topic, timeout=10).topics[topic]
        parts = [TopicPartition(topic, p) for p in meta.partitions]
        committed = c.committed(parts, timeout=10)
        for tp in committed:
            end = c.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=10)[1]
            if end > 0 and tp.offset != end:
                return False
        return True
    finally:
        c.close()


def wait_for_records(kafka: str, topic: str, n: int, timeout_s: float = 240) -> None:
    """Until ``topic`` holds at least ``n`` records."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        # each read must be able to finish: a short read deadline under load returns a partial
        # topic every time, and the wait would never see n
        if len(read_all(kafka, topic, timeout_s=60)) >= n:
            return
        time.sleep(0.5)
    raise AssertionError(f"fewer than {n} records on {topic} after {timeout_s} s")
