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
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt
import redis
from redis.cluster import RedisCluster

from features.redis_client import FAILED, Client
from features.registry import DAY_MS, LABEL_DELAY_DAYS, RAW_COLUMNS, WINDOWS_DAYS

_SCRIPT = resources.files("features").joinpath("velocity.lua").read_text()
KEY_TTL_S = (LABEL_DELAY_DAYS + max(WINDOWS_DAYS) + 7) * 86_400


class StoreUnavailable(Exception):
    """Redis did not answer within its budget (timeouts and retries exhausted), or, on a
    cluster, kept refusing the batch while its slot migrates (``TRYAGAIN``)."""


class StoreRefused(Exception):
    """The script failed on what a batch holds (not on Redis): ``reason`` says what, without
    ids (a key of the wrong type, say, left by an older key layout or by hand)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _refusal(exc: Exception) -> str | None:
    """What in the data the script failed on, or None when the failure is Redis itself.

    Only a plain error reply qualifies, and only a wrong key type or a Lua runtime error: out of
    memory, a read-only replica and script cache errors are subclasses, and a server's refusal
    (a non-local key on a cluster node: a client misconfigured) mean the server, not the event.
    """
    if type(exc) is not redis.ResponseError:
        return None
    text = str(exc)
    if text.startswith("WRONGTYPE"):
        return "the feature store holds a key of another type for this event's customer or terminal"
    if text.startswith("user_script:"):  # a Lua runtime error on the values it was given
        return "the feature store's script failed on this event: " + text.split(" script:")[0]
    return None


DUPLICATE = (
    "event id already used by an event with other content (customer, terminal, time, amount or "
    "another field differ); that first event's features stand: give this one an id of its own"
)


class Refusal(NamedTuple):
    """Why the store left an event out: ``store`` for what its keys hold, ``duplicate`` for an
    event id seen before with other content."""

    stage: Literal["store", "duplicate"]
    reason: str


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


Raw = npt.NDArray[np.float64]


def isolate_refused(
    apply: Callable[[Sequence[StoreEvent]], tuple[Raw, Sequence[int]]],
    events: Sequence[StoreEvent],
) -> tuple[Raw, dict[int, Refusal]]:
    """``apply`` over ``events``, except that events the store refuses for what they hold
    (``StoreRefused``) are found and left out instead of failing the batch, and so are those
    ``apply`` reports as conflicting duplicates (their ids' indices, second of its pair).

    The batch is split in halves until each refusal is one event: log2 of the batch in extra
    calls, only when one occurs, and events already applied get their cached answer back. A
    refused event's row is zeros and the dict maps its index to why. Redis being down or slow
    is still ``StoreUnavailable``.
    """
    raw = np.zeros((len(events), len(RAW_COLUMNS)), dtype=np.float64)
    refused: dict[int, Refusal] = {}
    pending = [(0, len(events))]
    while pending:
        lo, hi = pending.pop()
        try:
            raw[lo:hi], conflicts = apply(events[lo:hi])
        except StoreRefused as exc:
            if hi - lo == 1:
                refused[lo] = Refusal("store", exc.reason)
            else:
                mid = (lo + hi) // 2
                pending += [(mid, hi), (lo, mid)]
            continue
        for i in conflicts:
            refused[lo + i] = Refusal("duplicate", DUPLICATE)
            raw[lo + i] = 0.0
    return raw, dict(sorted(refused.items()))


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
    ) -> None:
        """``batch_client`` runs the per-batch script with a budget sized for a whole batch;
        ``client`` serves the small calls (PING, labels, progress) with the tight one.
        Pruning never acts past ``clock() + max_ahead_s`` (an event dated far ahead)."""
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
        args: list[str | int] = [
            self._prefix,
            self._cache_ttl_s,
            KEY_TTL_S,
            LABEL_DELAY_DAYS * DAY_MS,
            len(events),
            int((self._clock() + self._max_ahead_s) * 1000),  # pruning's horizon
        ]
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
        try:
            blob, since, *conflicts = self._script(keys=keys, args=args)
        except FAILED as exc:
            if (reason := _refusal(exc)) is not None:
                raise StoreRefused(reason) from exc
            raise StoreUnavailable(f"Redis enrich failed: {exc}") from exc
        raw = np.frombuffer(blob, dtype="<f8").reshape(len(events), len(RAW_COLUMNS)).copy()
        for w in WINDOWS_DAYS:
            raw[:, RAW_COLUMNS.index(f"customer_sum_{w}d")] /= 100.0
        self.history_since = int(since)
        return raw, [int(i) for i in conflicts]

    def history(self) -> History | None:
        """The history mark: from which event time the store holds every event, and who said
        so; None when the store has none (new, or emptied since it was marked)."""
        try:
            mark = self._client.hgetall(f"{self._prefix}:state")
        except FAILED as exc:
            raise StoreUnavailable(f"Redis history mark read failed: {exc}") from exc
        if b"since" not in mark:
            return None
        by = mark.get(b"by", b"")
        return History(int(mark[b"since"]), by.decode() if isinstance(by, bytes) else str(by))

    def mark_history(self, since_ms: int, by: str, *, only_if_absent: bool = False) -> History:
        """Set the history mark (``only_if_absent``: unless there is one); return the mark now
        in force. The mark has no TTL: it goes only with the store's contents."""
        key = f"{self._prefix}:state"
        try:
            if not only_if_absent:
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
            key = f"{self._prefix}:tf:{lab.terminal_id}"
            if lab.is_fraud:
                pipe.zadd(key, {lab.event_id: lab.event_ms})
                pipe.expire(key, KEY_TTL_S)
            else:
                pipe.zrem(key, lab.event_id)
        try:
            pipe.execute()
        except FAILED as exc:
            raise StoreUnavailable(f"Redis label update failed: {exc}") from exc
