"""Feature keys spread over slots (``FRAUDSCORE_REDIS_SPREAD_SLOTS``, features/spread.py,
docs/scaling.md), on real Redis servers.

1. On a real three-node Redis Cluster started here, pointed at any node: a stream of events
   and labels gets exactly the features the one-slot layout gives on a single Redis; every
   shard holds a third of the groups and serves script calls; a replayed batch gets its first
   answers back and an id reused with other content is reported, as in the one-slot layout.
2. A batch that fails half-way (one trip's calls partly run) and is retried counts nothing
   twice: the features after it are those of a run without the failure.
3. History marks: every group is marked; one group losing its mark (a shard emptied) makes
   the store's mark missing, and the next batch marks that group again, "first batch".
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
import redis
from redis.crc import key_slot

from core.settings import Settings
from features.online import OnlineStore, StoreEvent, StoreLabel, StoreUnavailable
from features.open import open_store
from features.redis_client import connect
from features.spread import slot_tags
from tests.integration.redis_cluster import (
    redis_cluster_fixture,  # noqa: F401  (a fixture)
    slot_owner,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

DAY = 86_400_000
T0 = 1_525_132_800_000  # 2018-05-01T00:00:00Z
GROUPS = 12  # four per shard of three


def _stream(n: int, seed: int = 7) -> list[StoreEvent]:
    """Events over some 60 days: customers repeat within windows, terminals across customers,
    some events out of order."""
    rng = random.Random(seed)
    t, out = T0, []
    for i in range(n):
        t += rng.randint(0, 900_000)
        late = rng.random() < 0.05
        out.append(
            StoreEvent(
                f"e{i}",
                f"c{rng.randint(0, 150)}",
                f"t{rng.randint(0, 60)}",
                t - (rng.randint(1, 3 * DAY) if late else 0),
                rng.randint(1, 90_000),
                f"fp{i}",
            )
        )
    return out


def _run(store: OnlineStore, events: Sequence[StoreEvent], batch: int = 250) -> np.ndarray:
    """Enrich in batches; before each, label every 13th event older than 8 days as fraud."""
    rows = []
    for b in range(0, len(events), batch):
        labels = [
            StoreLabel(e.event_id, e.terminal_id, e.event_ms, True)
            for e in events[:b]
            if int(e.event_id[1:]) % 13 == 0 and e.event_ms < events[b].event_ms - 8 * DAY
        ]
        store.apply_labels(labels)
        rows.append(store.enrich(events[b : b + batch]))
    return np.vstack(rows)


def _single(redis_url: str, prefix: str, spread: int = 0) -> OnlineStore:
    return OnlineStore(
        connect(redis_url, socket_timeout_ms=5000, retries=0), prefix=prefix, spread_slots=spread
    )


def _cluster(port: int, prefix: str) -> OnlineStore:
    return open_store(
        Settings(
            redis_url=f"redis://127.0.0.1:{port}/0",
            redis_cluster=True,
            redis_key_prefix=prefix,
            redis_spread_slots=GROUPS,
            redis_socket_timeout_ms=5000,
            redis_connect_timeout_ms=2000,
        )
    )


def _evalsha_calls(port: int) -> int:
    stats = redis.Redis(port=port).info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


def test_on_a_cluster_the_features_of_one_slot_on_one_redis(
    redis_cluster: list[int], redis_url: str, unique_name: str
) -> None:
    events = _stream(3000)
    reference = _run(_single(redis_url, unique_name + "-one"), events)
    before = {p: _evalsha_calls(p) for p in redis_cluster}
    spread = _cluster(redis_cluster[1], "{" + unique_name + "}")
    assert np.array_equal(_run(spread, events), reference)

    owners = [slot_owner(redis_cluster, key_slot(tag.encode())) for tag in slot_tags(GROUPS)]
    assert sorted(owners.count(p) for p in redis_cluster) == [4, 4, 4]
    calls = {p: _evalsha_calls(p) - before[p] for p in redis_cluster}
    assert all(c > 0.2 * sum(calls.values()) for c in calls.values()), calls
    node_keys = {p: redis.Redis(port=p).dbsize() for p in redis_cluster}
    assert all(n > 0.2 * sum(node_keys.values()) for n in node_keys.values()), node_keys

    again = spread.apply(events[1000:1250])
    assert np.array_equal(again[0], reference[1000:1250]) and again[1] == []
    t_end = events[-1].event_ms
    reused = [
        StoreEvent("e5", "c-other", "t-other", T0, 1, "other content"),
        StoreEvent("fresh", "c1", "t1", t_end, 500, "x"),
        StoreEvent("fresh", "c1", "t1", t_end, 500, "x"),  # a repeat within the batch
        StoreEvent("fresh2", "c2", "t1", t_end, 700, "a"),
        StoreEvent("fresh2", "c3", "t1", t_end, 700, "b"),  # reused, within the batch
    ]
    one = _single(redis_url, unique_name + "-one")
    raw_one, conflicts_one = one.apply(reused)
    raw_spread, conflicts_spread = spread.apply(reused)
    assert conflicts_spread == conflicts_one == [0, 4]
    keep = [1, 2, 3]
    assert np.array_equal(raw_spread[keep], raw_one[keep])


class _FailHalfway:
    """Runs the first half of the calls of the store's ``fail_on``-th trip, then fails."""

    def __init__(self, store: OnlineStore, fail_on: int) -> None:
        spread = store._spread
        assert spread is not None
        self.spread, self.trip, self.fail_on = spread, spread._trip, fail_on
        self.trips = 0
        spread._trip = self  # type: ignore[method-assign]

    def __call__(self, calls: list[tuple[str, list[str], list[Any]]]) -> list[Any]:
        self.trips += 1
        if self.trips != self.fail_on:
            return self.trip(calls)
        self.trip(calls[: len(calls) // 2])
        raise redis.ConnectionError("connection lost half-way (simulated)")


@pytest.mark.parametrize("fail_on", [1, 2], ids=["claim", "windows"])
def test_a_batch_retried_after_failing_half_way_counts_nothing_twice(
    redis_url: str, unique_name: str, fail_on: int
) -> None:
    events = _stream(1500, seed=11)
    reference = _run(_single(redis_url, unique_name + "-one"), events)
    store = _single(redis_url, unique_name, spread=GROUPS)
    first = _run(store, events[:1000])
    failing = _FailHalfway(store, fail_on)
    with pytest.raises(StoreUnavailable):
        store.enrich(events[1000:1250])
    store._spread._trip = failing.trip  # type: ignore[method-assign,union-attr]
    rest = np.vstack([store.enrich(events[1000:1250]), store.enrich(events[1250:])])
    assert np.array_equal(np.vstack([first, rest]), reference)


def test_every_group_is_marked_and_a_lost_mark_is_noticed(redis_url: str, unique_name: str) -> None:
    store = _single(redis_url, unique_name, spread=GROUPS)
    assert store.history() is None
    assert store.mark_history(0, "first start", only_if_absent=True).since_ms == 0
    assert store.mark_history(5, "rebuild", only_if_absent=True).by == "first start"
    events = _stream(400, seed=3)
    store.enrich(events[:200])
    assert store.history_since == 0
    client = redis.Redis.from_url(redis_url)
    lost = store._spread.layout.state(0)  # type: ignore[union-attr]
    client.delete(lost)
    assert store.history() is None
    store.enrich(events[200:])
    mark = store.history()
    assert mark is not None and mark.by == "first batch" and mark.since_ms > 0
    assert store.history_since == mark.since_ms
    assert client.hget(lost, "by") == b"first batch"
