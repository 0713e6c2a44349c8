"""Feature keys spread over hash slots, so every Redis Cluster shard serves its share
(``FRAUDSCORE_REDIS_SPREAD_SLOTS``, docs/scaling.md).

With ``n`` slots, each customer's, terminal's and event id's keys go to one of ``n`` groups, by
a CRC-32 of the id; group ``i`` carries a hash tag chosen so that its slot lies in the ``i``-th
of ``n`` equal ranges of the 16,384 slots, so a cluster whose shards own contiguous ranges (the
default allocation) gets an equal number of groups per shard. A batch then takes two pipelined
round trips, each one script call per group, run by every shard in parallel:

1. **claim** (groups of event ids): each id's content fingerprint is stored, or compared with
   the one stored, so an id reused with other content is reported and changes nothing;
2. **windows** (groups of customers, and groups of terminals): the customer script updates and
   reads customer windows, the terminal script terminal windows. Each caches the answer it gave
   per event id, so a replay, or a retry after a failure half-way, gets the first answer back
   and counts nothing twice.

The customer and terminal parts of one event are no longer applied in one atomic call. They
need not be: a customer's events are read in order by one worker (its partition), and an
event's terminal windows end a label delay (7 days) before it, so no terminal update of the
same batch can be in them (docs/scaling.md). Every group has its own history mark; an event
is flagged by the latest mark of the groups its batch touched.
"""

from __future__ import annotations

import contextlib
import functools
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np
import redis
from redis.cluster import RedisCluster
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot
from redis.exceptions import MovedError, NoScriptError

from features.redis_client import FAILED, Client
from features.registry import RAW_COLUMNS

if TYPE_CHECKING:
    from features.online import StoreEvent
    from features.refusals import Raw

HALF = len(RAW_COLUMNS) // 2  # customer aggregates first, then the terminal's (registry)
MAX_SLOTS = 256  # finding the tags costs about n² slot computations at start-up

_LIB = resources.files("features").joinpath("windows.lua").read_text()
SCRIPTS = {
    name: _LIB + resources.files("features").joinpath(f"spread_{name}.lua").read_text()
    for name in ("claim", "customer", "terminal")
}


@functools.cache
def slot_tags(n: int) -> tuple[str, ...]:
    """``n`` hash tags, the ``i``-th hashing into the ``i``-th of ``n`` equal slot ranges."""
    if not 1 <= n <= MAX_SLOTS:
        raise ValueError(f"spread over 1 to {MAX_SLOTS} slots, not {n}")
    tags = []
    for i in range(n):
        lo, hi = i * REDIS_CLUSTER_HASH_SLOTS // n, (i + 1) * REDIS_CLUSTER_HASH_SLOTS // n
        k = 0
        while not lo <= key_slot(f"{i}.{k}".encode()) < hi:
            k += 1
        tags.append(f"{i}.{k}")
    return tuple(tags)


class SpreadLayout:
    """Where each key lives: ``<prefix without braces>:{<group tag>}:<kind>:<id>``."""

    def __init__(self, prefix: str, n: int) -> None:
        self.base = prefix.replace("{", "").replace("}", "")
        self.tags = slot_tags(n)
        self.heads = [f"{self.base}:{{{tag}}}:" for tag in self.tags]  # each group's keys start so

    def group(self, ident: str) -> int:
        return zlib.crc32(ident.encode()) % len(self.tags)

    def key(self, kind: str, ident: str, owner: str | None = None) -> str:
        """The key of ``ident``'s ``kind`` (c, ca, t, tf, fp; fc, ft: an event's cached
        customer and terminal features) in the group of ``owner`` (default: ``ident``)."""
        return f"{self.heads[self.group(owner or ident)]}{kind}:{ident}"

    def state(self, group: int) -> str:
        """The history mark of one group."""
        return f"{self.heads[group]}state"


def _groups(ids: Sequence[str], layout: SpreadLayout) -> dict[int, list[int]]:
    """Indices of ``ids`` by group, in order."""
    out: dict[int, list[int]] = {}
    for i, ident in enumerate(ids):
        out.setdefault(layout.group(ident), []).append(i)
    return out


class Spread:
    """A batch over spread keys: claim, then windows, each one pipelined round trip."""

    def __init__(self, client: Client, batch_client: Client, layout: SpreadLayout) -> None:
        self._client, self._batch_client, self.layout = client, batch_client, layout
        self._sha = {name: batch_client.script_load(text) for name, text in SCRIPTS.items()}
        self._threads = ThreadPoolExecutor(8, thread_name_prefix="redis-shard")

    def _run(self, calls: list[tuple[str, list[str], list[Any]]]) -> list[Any]:
        """Run script calls (name, keys, args) in one pipeline; the first error is raised as
        Redis gave it. Scripts missing on a node (a failover, a new node) are loaded and the
        trip is run again: every call in it is idempotent."""
        results = self._trip(calls)
        if any(isinstance(r, NoScriptError) for r in results):
            self._sha = {n: self._batch_client.script_load(t) for n, t in SCRIPTS.items()}
            results = self._trip(calls)
        for r in results:
            if isinstance(r, Exception):
                raise r
        return results

    def _trip(self, calls: list[tuple[str, list[str], list[Any]]]) -> list[Any]:
        """One round trip: one pipeline per node, the nodes' pipelines run in parallel (redis-py
        refuses scripts in its cluster pipeline). A redirection (the slot moved) re-reads the
        cluster's layout and runs the trip again."""
        client = self._batch_client
        if not isinstance(client, RedisCluster):
            return self._pipeline(client, calls)
        try:
            results = self._on_nodes(client, calls)
            if not any(isinstance(r, MovedError) for r in results):
                return results
            client.nodes_manager.initialize()
            return self._on_nodes(client, calls)
        except (redis.ConnectionError, redis.TimeoutError):
            with contextlib.suppress(*FAILED):
                client.nodes_manager.initialize()  # a failover: find the new owners
            raise

    def _on_nodes(
        self, client: RedisCluster, calls: list[tuple[str, list[str], list[Any]]]
    ) -> list[Any]:
        by_node: dict[str, tuple[redis.Redis, list[int]]] = {}
        for i, (_, keys, _) in enumerate(calls):
            node = client.nodes_manager.get_node_from_slot(key_slot(keys[0].encode()))
            by_node.setdefault(node.name, (client.get_redis_connection(node), []))[1].append(i)
        work = [(conn, [calls[i] for i in idx]) for conn, idx in by_node.values()]
        if len(work) == 1:
            done = [self._pipeline(*work[0])]
        else:
            done = list(self._threads.map(lambda w: self._pipeline(*w), work))
        results: list[Any] = [None] * len(calls)
        for (_, idx), replies in zip(by_node.values(), done, strict=True):
            for i, reply in zip(idx, replies, strict=True):
                results[i] = reply
        return results

    def _pipeline(self, client: Client, calls: list[tuple[str, list[str], list[Any]]]) -> list[Any]:
        pipe = client.pipeline(transaction=False)
        for name, keys, args in calls:
            pipe.evalsha(self._sha[name], len(keys), *keys, *args)
        return list(pipe.execute(raise_on_error=False))

    def apply(self, events: Sequence[StoreEvent], head: list[Any]) -> tuple[Raw, int, list[int]]:
        """Raw aggregates (customer sums in cents), the latest history mark of the groups
        touched, and the indices of conflicting ids. ``head``: windows.lua's first four ARGV;
        the horizon follows the count."""
        lay, heads = self.layout, self.layout.heads
        first: dict[str, int] = {}
        alias: dict[int, int] = {}  # a repeat of an id within the batch: answered as the first
        conflicts: set[int] = set()
        for i, e in enumerate(events):
            j = first.setdefault(e.event_id, i)
            if j != i:
                seen = events[j].fingerprint
                if seen and e.fingerprint and seen != e.fingerprint:
                    conflicts.add(i)
                else:
                    alias[i] = j
        unique = list(first.values())

        def common(n: int) -> list[Any]:  # windows.lua's six ARGV for a call of n events
            return [*head[:4], n, head[4]]

        by_id = _groups([events[i].event_id for i in unique], lay)
        claims = [
            (
                "claim",
                [f"{heads[g]}fp:{events[unique[j]].event_id}" for j in idx],
                [*common(len(idx)), *(events[unique[j]].fingerprint for j in idx)],
            )
            for g, idx in by_id.items()
        ]
        for idx, found in zip(by_id.values(), self._run(claims), strict=True):
            conflicts.update(unique[idx[int(k)]] for k in found)
        fresh = [i for i in unique if i not in conflicts]
        calls: list[tuple[str, list[str], list[Any]]] = []
        parts: list[tuple[int, list[int]]] = []  # (first raw column, event indices) per call
        # (script, first raw column, cached part, the owner's two structures, values per event)
        for name, col, cache, kinds, width in (
            ("customer", 0, "fc", ("c", "ca"), 3),  # event id, time, cents
            ("terminal", HALF, "ft", ("t", "tf"), 2),  # event id, time
        ):
            owners = [e.customer_id if col == 0 else e.terminal_id for e in events]
            for g, idx in _groups([owners[i] for i in fresh], lay).items():
                h, rows = heads[g], [fresh[j] for j in idx]
                keys = [f"{h}state"]
                args = [*common(len(rows)), min(events[i].event_ms for i in rows)]
                for i in rows:
                    e, o = events[i], owners[i]
                    keys += [f"{h}{cache}:{e.event_id}", f"{h}{kinds[0]}:{o}", f"{h}{kinds[1]}:{o}"]
                    args += [e.event_id, e.event_ms, e.amount_cents][:width]
                calls.append((name, keys, args))
                parts.append((col, rows))
        raw = np.zeros((len(events), 2 * HALF), dtype=np.float64)
        since = 0
        for (col, rows), (blob, mark) in zip(parts, self._run(calls) if calls else [], strict=True):
            raw[rows, col : col + HALF] = np.frombuffer(blob, dtype="<f8").reshape(len(rows), HALF)
            since = max(since, int(mark))
        for i, j in alias.items():
            raw[i] = raw[j]
        return raw, since, sorted(conflicts)

    def history(self) -> list[dict[Any, Any]]:
        """Every group's history mark (empty where a group has none)."""
        pipe = self._client.pipeline(transaction=False)
        for g in range(len(self.layout.tags)):
            pipe.hgetall(self.layout.state(g))
        return list(pipe.execute())

    def mark(self, since_ms: int, by: str, *, only_if_absent: bool) -> None:
        """Mark every group (``only_if_absent``: those without a mark)."""
        groups = range(len(self.layout.tags))
        pipe = self._client.pipeline(transaction=False)
        for g in groups:
            if only_if_absent:
                pipe.hsetnx(self.layout.state(g), "since", since_ms)
            else:
                pipe.hset(self.layout.state(g), mapping={"since": since_ms, "by": by})
        done = pipe.execute()
        if only_if_absent and any(done):
            pipe = self._client.pipeline(transaction=False)
            for g, new in zip(groups, done, strict=True):
                if new:
                    pipe.hset(self.layout.state(g), "by", by)
            pipe.execute()
