"""The feature store's cost where it is paid: redis-server CPU per event.

The benchmark's simulated history goes through the workers' store (``OnlineStore``: batches of
the worker's size, fraud labels applied a label delay after their transactions, as they arrive
in production) on redis-servers started for this step alone, so nothing else runs on them:

- one instance, every key in one slot (the default layout);
- the same, keys spread over ``slots`` groups (features/spread.py): the spread layout's own
  cost on one core;
- a three-master Redis Cluster, keys spread over ``slots`` groups: each shard's CPU.

CPU is ``used_cpu_user + used_cpu_sys`` from ``INFO cpu`` before and after, over the events
after the first ``warm`` share (the windows fill first); ``INFO commandstats`` gives each
command's calls and time per event. Client wall time is one thread's, Python included.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import redis

from devstack.cluster import local_cluster, local_server
from features.online import OnlineStore, StoreEvent, StoreLabel
from features.redis_client import connect
from features.registry import DAY_MS, LABEL_DELAY_DAYS

SLOTS = 12  # four groups per shard of three


@dataclass(frozen=True)
class StoreCpuResult:
    layout: str
    shards: int
    events: int  # measured (after the warm-up)
    cpu_us_per_event: float  # every shard together
    busiest_us_per_event: float  # the busiest shard's
    client_us_per_event: float  # wall time of the store calls, one client thread
    commands: dict[str, tuple[float, float]] = field(default_factory=dict)  # calls, µs per event


def _cpu(node: redis.Redis) -> float:
    info = node.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _feed(
    store: OnlineStore,
    events: Sequence[StoreEvent],
    labels: Sequence[StoreLabel],
    batch: int,
    on_batch: Callable[[int], None],
) -> None:
    """Events in batches; before each, the labels of transactions a label delay older."""
    delay, j = LABEL_DELAY_DAYS * DAY_MS, 0
    for b in range(0, len(events), batch):
        due = events[b].event_ms - delay
        k = j
        while k < len(labels) and labels[k].event_ms < due:
            k += 1
        store.apply_labels(labels[j:k])
        j = k
        store.enrich(events[b : b + batch])
        on_batch(b + batch)


def measure(
    layout: str,
    make_store: Callable[[], OnlineStore],
    nodes: list[redis.Redis],
    events: Sequence[StoreEvent],
    labels: Sequence[StoreLabel],
    *,
    batch: int,
    warm: float,
    tick: Callable[[int], None],
) -> StoreCpuResult:
    store = make_store()
    cut = int(len(events) * warm)
    start: list[tuple[int, float, list[float]]] = []  # (events done, wall, CPU per node)

    def on_batch(done: int) -> None:
        if done >= cut and not start:  # the warm-up is over: start counting
            for node in nodes:
                node.config_resetstat()
            start.append((done, time.perf_counter(), [_cpu(n) for n in nodes]))
        tick(done)

    _feed(store, events, labels, batch, on_batch)
    first, t0, cpu0 = start[0]
    wall = time.perf_counter() - t0
    spent = [_cpu(n) - c for n, c in zip(nodes, cpu0, strict=True)]
    measured = len(events) - first
    commands: dict[str, list[float]] = {}
    for node in nodes:
        for name, stat in node.info("commandstats").items():
            row = commands.setdefault(name.removeprefix("cmdstat_"), [0.0, 0.0])
            row[0] += stat["calls"] / measured
            row[1] += stat["usec"] / measured
    skip = {"info", "config|resetstat", "ping", "script|load"}
    return StoreCpuResult(
        layout=layout,
        shards=len(nodes),
        events=measured,
        cpu_us_per_event=1e6 * sum(spent) / measured,
        busiest_us_per_event=1e6 * max(spent) / measured,
        client_us_per_event=1e6 * wall / measured,
        commands={k: (v[0], v[1]) for k, v in commands.items() if k not in skip},
    )


def _store(url: str, slots: int, *, cluster: bool = False) -> OnlineStore:
    def client() -> redis.Redis | redis.RedisCluster:
        return connect(url, socket_timeout_ms=10_000, retries=0, cluster=cluster)

    prefix = "{bench}" if cluster else "bench"
    return OnlineStore(client(), prefix=prefix, batch_client=client(), spread_slots=slots)


def run_store_cpu(
    events: Sequence[StoreEvent],
    labels: Sequence[StoreLabel],
    *,
    batch: int,
    warm: float = 1 / 3,
    tick: Callable[[str, int], None] = lambda layout, done: None,
) -> list[StoreCpuResult]:
    """The three layouts, each on servers of its own started and stopped here."""
    out: list[StoreCpuResult] = []
    labels = sorted(labels, key=lambda lab: lab.event_ms)

    def run(name: str, store: Callable[[], OnlineStore], nodes: list[redis.Redis]) -> None:
        out.append(
            measure(
                name,
                store,
                nodes,
                events,
                labels,
                batch=batch,
                warm=warm,
                tick=partial(tick, name),
            )
        )

    with tempfile.TemporaryDirectory(prefix="fraudscore-store-cpu-") as tmp:
        with local_server(Path(tmp)) as port:
            node, url = redis.Redis(port=port), f"redis://127.0.0.1:{port}/0"
            run("one instance, one slot", partial(_store, url, 0), [node])
            node.flushall()
            run(f"one instance, {SLOTS} slots", partial(_store, url, SLOTS), [node])
        with local_cluster(Path(tmp)) as ports:
            url = f"redis://127.0.0.1:{ports[0]}/0"
            run(
                f"3-node cluster, {SLOTS} slots",
                partial(_store, url, SLOTS, cluster=True),
                [redis.Redis(port=p) for p in ports],
            )
    return out
