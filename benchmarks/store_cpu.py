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
from rich.progress import Progress, TaskID

from devstack.cluster import local_cluster, local_server
from features.online import OnlineStore, StoreEvent, StoreLabel
from features.redis_client import connect
from features.registry import DAY_MS, LABEL_DELAY_DAYS

SLOTS = 12  # four groups per shard of three
REPEATS = 3  # runs per layout, taking turns: the median is reported (a shared machine is noisy)


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
    repeats: int = REPEATS,
    tick: Callable[[str, int], None] = lambda layout, done: None,
) -> list[StoreCpuResult]:
    """The three layouts on servers of their own, started here and emptied before each run;
    the layouts take turns ``repeats`` times and each reports its median run (by CPU)."""
    labels = sorted(labels, key=lambda lab: lab.event_ms)
    runs: dict[str, list[StoreCpuResult]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="fraudscore-store-cpu-") as tmp,
        local_server(Path(tmp)) as port,
        local_cluster(Path(tmp)) as ports,
    ):
        one, url = [redis.Redis(port=port)], f"redis://127.0.0.1:{port}/0"
        shards, cluster_url = (
            [redis.Redis(port=p) for p in ports],
            f"redis://127.0.0.1:{ports[0]}/0",
        )
        layouts = [
            ("one instance, one slot", partial(_store, url, 0), one),
            (f"one instance, {SLOTS} slots", partial(_store, url, SLOTS), one),
            (f"3-node cluster, {SLOTS} slots", partial(_store, cluster_url, SLOTS, cluster=True),
             shards),
        ]  # fmt: skip
        for r in range(repeats):
            for name, store, nodes in layouts:
                for node in nodes:
                    node.flushall()
                ticks = partial(lambda n, name, r: tick(name, r * len(events) + n), name=name, r=r)
                runs.setdefault(name, []).append(
                    measure(name, store, nodes, events, labels, batch=batch, warm=warm,
                            tick=ticks)
                )  # fmt: skip
    return [sorted(rs, key=lambda x: x.cpu_us_per_event)[len(rs) // 2] for rs in runs.values()]


def bar_ticks(bar: Progress, total: int) -> Callable[[str, int], None]:
    """A progress bar per layout, for ``run_store_cpu``'s ``tick``."""
    tasks: dict[str, TaskID] = {}

    def tick(layout: str, done: int) -> None:
        if layout not in tasks:
            tasks[layout] = bar.add_task(f"store CPU: {layout}", total=total)
        bar.update(tasks[layout], completed=done)

    return tick


def store_lines(results: list[StoreCpuResult]) -> list[str]:
    if not results:
        return []
    one = results[0].cpu_us_per_event
    lines = [
        "",
        "## Feature store: redis-server CPU per event",
        "",
        f"The simulated history ({results[0].events:,} events measured, after a third as "
        "warm-up) through the workers' store on redis-servers of its own "
        f"(`benchmarks/store_cpu.py`); CPU from `INFO cpu`; each layout's median of {REPEATS} "
        "runs, the layouts taking turns.",
        "",
        "| layout | shards | CPU µs/event, all shards | busiest shard µs/event "
        "| busiest vs one instance | client µs/event |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {r.layout} | {r.shards} | {r.cpu_us_per_event:.1f} | {r.busiest_us_per_event:.1f} "
        f"| {r.busiest_us_per_event / one:.2f}x | {r.client_us_per_event:.1f} |"
        for r in results
    ]
    top = sorted(results[0].commands.items(), key=lambda kv: -kv[1][1])[:10]
    lines += [
        "",
        f"Commands ({results[0].layout}; `evalsha`'s time includes the commands its script "
        "calls and the Lua around them): "
        + ", ".join(f"{name} {calls:.2f}/event {us:.2f} µs" for name, (calls, us) in top)
        + ".",
    ]
    return lines
