"""The Redis online store: one round trip per batch, atomic and idempotent per event id.

``enrich`` sends a whole batch to ``velocity.lua``, which updates the customer and terminal
windows and returns the raw aggregates as packed doubles (``np.frombuffer``, no per-event reply
objects). Labels (``fraud.labels``) feed the terminal fraud sets through ``apply_labels``.

Every call has an explicit socket timeout in tens of milliseconds and a bounded retry with
backoff; what remains is raised as ``StoreUnavailable`` so the worker's policy (pause or
degrade) decides, instead of a client default blocking for a minute.

Keys (prefix ``fs`` by default): ``fs:c:<customer>`` customer events (zset, score = event ms,
member = ``event_id:cents``), ``fs:t:<terminal>`` terminal events, ``fs:tf:<terminal>`` terminal
events labelled fraud, ``fs:fv:<event_id>`` the raw aggregates an event got and its content's
fingerprint (TTL), so a replay returns them unchanged and a reused id is told apart;
``fs:state`` the history mark (``History``: from when the windows are whole). Sets are
pruned in event time past the longest window, and every key has a TTL, so memory stays bounded.

Redis Cluster (``connect(cluster=True)``, docs/scaling.md): the prefix carries a hash tag, so
every key is in the tag's slot. The script then declares, as ``KEYS``, every key it may touch
(``batch_keys``): the cluster client routes it to the slot's owner and follows ``MOVED``; while
that slot is being migrated, Redis runs it only where all those keys are, and otherwise answers
``TRYAGAIN`` (raised here as ``StoreUnavailable``) instead of letting it see half the windows.
The plain client declares no keys, as before.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, NamedTuple

import numpy as np
from redis.cluster import RedisCluster

from features.redis_client import FAILED, Client
from features.refusals import Raw, Refusal, StoreRefused, isolate_refused, refusal_of
from features.registry import DAY_MS, LABEL_DELAY_DAYS, RAW_COLUMNS, WINDOWS_DAYS
from features.spread import Spread, SpreadLayout

_SCRIPT = "".join(
    resources.files("features").joinpath(f).read_text() for f in ("windows.lua", "velocity.lua")
)
KEY_TTL_S = (LABEL_DELAY_DAYS + max(WINDOWS_DAYS) + 7) * 86_400


class StoreUnavailable(Exception):
    """Redis did not answer within its budget (timeouts and retries exhausted), or, on a
    cluster, kept refusing the batch while its slot migrates (``TRYAGAIN``)."""


@dataclass(frozen=True, slots=True)
class StoreEvent:
    """What the store needs of a transaction; ``fingerprint`` digests all of its content, so
    the id seen again with other content is told from a replay (empty: not checked)."""

    event_id: str
    customer_id: str
    terminal_id: str
    event_ms: int
    amount_cents: int
    fingerprint: str = ""


class History(NamedTuple):
    """The store's history mark: it holds every event from ``since_ms`` (event time; 0: all)."""

    since_ms: int
    by: str  # "first start", "rebuild", "first batch" (the store held no mark: it was emptied)


@dataclass(frozen=True, slots=True)
class StoreLabel:
    event_id: str
    terminal_id: str
    event_ms: int
    is_fraud: bool


def batch_keys(prefix: str, events: Sequence[StoreEvent]) -> list[str]:
    """Every key ``velocity.lua`` may touch for ``events``, once each (its KEYS in cluster mode)."""
    keys: dict[str, None] = {f"{prefix}:state": None}
    for e in events:
        keys[f"{prefix}:fv:{e.event_id}"] = None
        keys[f"{prefix}:c:{e.customer_id}"] = None
        keys[f"{prefix}:ca:{e.customer_id}"] = None
        keys[f"{prefix}:t:{e.terminal_id}"] = None
        keys[f"{prefix}:tf:{e.terminal_id}"] = None
    return list(keys)


class OnlineStore:
    """Customer and terminal windows in Redis, read and updated in one call per batch."""

    def __init__(
        self,
        client: Client,
        *,
        prefix: str = "fs",
        cache_ttl_s: int = 691_200,
        batch_client: Client | None = None,
        max_ahead_s: float = 3600.0,
        clock: Callable[[], float] = time.time,
        spread_slots: int = 0,
    ) -> None:
        """``batch_client`` runs the per-batch script with a budget sized for a whole batch;
        ``client`` serves the small calls (PING, labels, progress) with the tight one.
        Pruning never acts past ``clock() + max_ahead_s`` (an event dated far ahead).
        ``spread_slots``: the feature keys spread over that many slots (features/spread.py)."""
        batch_client = batch_client or client
        self._cluster = isinstance(client, RedisCluster)
        if self._cluster != isinstance(batch_client, RedisCluster):
            raise ValueError("client and batch_client must both be cluster clients, or neither")
        if self._cluster and "{" not in prefix:
            raise ValueError(f"Redis Cluster needs a {{hash tag}} in the key prefix {prefix!r}")
        self._client = client
        self._prefix = prefix
        self._cache_ttl_s = cache_ttl_s
        self._max_ahead_s, self._clock = max_ahead_s, clock
        self._script = batch_client.register_script(_SCRIPT)
        self._spread = (
            Spread(client, batch_client, SpreadLayout(prefix, spread_slots))
            if spread_slots
            else None
        )
        # the history mark as of the last batch (``history``); None before the first
        self.history_since: int | None = None

    def ping(self) -> None:
        """PING; on a cluster, a key read on the tag's slot: its owner is the node we need."""
        try:
            if isinstance(self._client, RedisCluster):
                self._client.exists(f"{self._prefix}:ping")
            else:
                self._client.ping()
        except FAILED as exc:
            raise StoreUnavailable(f"Redis did not answer PING: {exc}") from exc

    def enrich_checked(self, events: Sequence[StoreEvent]) -> tuple[Raw, dict[int, Refusal]]:
        """``enrich``, with the events the store refuses, and the conflicting duplicates, left
        out (``isolate_refused``)."""
        return isolate_refused(self.apply, events)

    def enrich(self, events: Sequence[StoreEvent]) -> Raw:
        """Apply the batch to the windows and return raw aggregates (rows = events); an event
        whose id conflicts with an earlier one's gets that one's aggregates (see ``apply``)."""
        return self.apply(events)[0]

    def apply(self, events: Sequence[StoreEvent]) -> tuple[Raw, list[int]]:
        """Apply the batch to the windows: raw aggregates (rows = events), and the indices of
        events whose id was stored before with another fingerprint (those change nothing)."""
        if not events:
            return np.empty((0, len(RAW_COLUMNS)), dtype=np.float64), []
        head: list[str | int] = [
            self._prefix,
            self._cache_ttl_s,
            KEY_TTL_S,
            LABEL_DELAY_DAYS * DAY_MS,
        ]
        horizon = int((self._clock() + self._max_ahead_s) * 1000)  # pruning's horizon
        try:
            if self._spread is not None:
                raw, since, conflicts = self._spread.apply(events, [*head, horizon])
            else:
                raw, since, conflicts = self._one_slot(events, [*head, len(events), horizon])
        except FAILED as exc:
            if (reason := refusal_of(exc)) is not None:
                raise StoreRefused(reason) from exc
            raise StoreUnavailable(f"Redis enrich failed: {exc}") from exc
        for w in WINDOWS_DAYS:
            raw[:, RAW_COLUMNS.index(f"customer_sum_{w}d")] /= 100.0
        self.history_since = since
        return raw, conflicts

    def _one_slot(
        self, events: Sequence[StoreEvent], args: list[str | int]
    ) -> tuple[Raw, int, list[int]]:
        """The whole batch in one script call (velocity.lua)."""
        for e in events:
            args += [
                e.event_id,
                e.customer_id,
                e.terminal_id,
                e.event_ms,
                e.amount_cents,
                e.fingerprint,
            ]
        keys = batch_keys(self._prefix, events) if self._cluster else []
        blob, since, *conflicts = self._script(keys=keys, args=args)
        raw = np.frombuffer(blob, dtype="<f8").reshape(len(events), len(RAW_COLUMNS)).copy()
        return raw, int(since), [int(i) for i in conflicts]

    def history(self) -> History | None:
        """The history mark: from which event time the store holds every event, and who said
        so; None when the store has none (new, or emptied since it was marked)."""
        try:
            marks: list[dict[Any, Any]] = (  # redis-py types replies loosely: bytes here
                [self._client.hgetall(f"{self._prefix}:state")]
                if self._spread is None
                else self._spread.history()
            )
        except FAILED as exc:
            raise StoreUnavailable(f"Redis history mark read failed: {exc}") from exc
        # spread keys: every group has a mark; one missing means part of the store was lost
        if any(b"since" not in m for m in marks):
            return None
        latest = max(marks, key=lambda m: int(m[b"since"]))
        first_batch = any(m.get(b"by") == b"first batch" for m in marks)
        by = "first batch" if first_batch else latest.get(b"by", b"").decode()
        return History(int(latest[b"since"]), by)

    def mark_history(self, since_ms: int, by: str, *, only_if_absent: bool = False) -> History:
        """Set the history mark (``only_if_absent``: unless there is one); return the mark now
        in force. The mark has no TTL: it goes only with the store's contents."""
        key = f"{self._prefix}:state"
        try:
            if self._spread is not None:
                self._spread.mark(since_ms, by, only_if_absent=only_if_absent)
            elif not only_if_absent:
                self._client.hset(key, mapping={"since": since_ms, "by": by})
            elif self._client.hsetnx(key, "since", since_ms):
                self._client.hset(key, "by", by)
        except FAILED as exc:
            raise StoreUnavailable(f"Redis history mark write failed: {exc}") from exc
        mark = self.history()
        return mark if mark is not None else History(since_ms, by)

    def exchange_progress(self, topic: str, mine: dict[int, str]) -> dict[str, str]:
        """Publish this worker's per-partition progress, return every partition's (one trip)."""
        key = f"{self._prefix}:progress:{topic}"
        pipe = self._client.pipeline(transaction=False)
        pipe.hset(key, mapping={str(p): v for p, v in mine.items()})
        pipe.expire(key, KEY_TTL_S)
        pipe.hgetall(key)
        try:
            *_, everyone = pipe.execute()
        except FAILED as exc:
            raise StoreUnavailable(f"Redis progress exchange failed: {exc}") from exc
        return {k.decode(): v.decode() for k, v in everyone.items()}

    def rebuild_progress(self, topic: str) -> dict[int, int]:
        """Where an interrupted rebuild of ``topic`` stopped: partition -> next offset."""
        try:
            saved = self._client.hgetall(f"{self._prefix}:rebuild:{topic}")
        except FAILED as exc:
            raise StoreUnavailable(f"Redis rebuild progress read failed: {exc}") from exc
        return {int(k): int(v) for k, v in saved.items()}

    def save_rebuild_progress(
        self, topic: str, next_offsets: dict[int, int], *, finished: bool = False
    ) -> None:
        """Record a rebuild's progress (after its batch is applied); ``finished`` clears it."""
        key = f"{self._prefix}:rebuild:{topic}"
        try:
            if finished:
                self._client.delete(key)
            elif next_offsets:
                self._client.hset(key, mapping={str(p): o for p, o in next_offsets.items()})
                self._client.expire(key, KEY_TTL_S)
        except FAILED as exc:
            raise StoreUnavailable(f"Redis rebuild progress write failed: {exc}") from exc

    def apply_labels(self, labels: Sequence[StoreLabel]) -> None:
        """Record fraud labels by the labelled event's time (idempotent: a set per terminal).

        Pruning happens in the enrich script, in the scored events' time, so labels that arrive
        ahead of the transactions (a replay) never remove what an earlier event still needs.
        """
        if not labels:
            return
        pipe = self._client.pipeline(transaction=False)
        for lab in labels:
            key = (
                f"{self._prefix}:tf:{lab.terminal_id}"
                if self._spread is None
                else self._spread.layout.key("tf", lab.terminal_id)
            )
            if lab.is_fraud:
                pipe.zadd(key, {lab.event_id: lab.event_ms})
                pipe.expire(key, KEY_TTL_S)
            else:
                pipe.zrem(key, lab.event_id)
        try:
            pipe.execute()
        except FAILED as exc:
            raise StoreUnavailable(f"Redis label update failed: {exc}") from exc
