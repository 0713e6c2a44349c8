"""How much history the feature store holds, and what the topics must keep to rebuild it.

The store carries a history mark (``features.online.History``): the event time from which it
holds every event, 0 when it holds them all. An event whose windows reach back before the mark
(``REACH_MS``: the longest window plus the label delay) is scored on partial windows, and its
score record and alert say so (``partial_history``).

Who sets the mark:

- a worker's start-up, on a store with no mark, when the store cannot have missed anything: its
  consumer group has committed nothing on the input topic (it will read that topic from the
  start) and every partition still begins at offset 0 (nothing deleted): mark 0;
- the store's batch script, on a store with no mark at its first batch (Redis restarted empty,
  replaced, or a group that had consumed before): that batch's earliest event time;
- ``fraudscore features rebuild`` when it finishes: the earliest event time it replayed (0 when
  it replayed every partition from offset 0), unless the store's mark is earlier already and
  not a ``first batch`` one (an emptied store's: what it lost before the replay is not back).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
from confluent_kafka import TopicPartition

from core.kafka import committed, retention_ms, watermarks
from core.messages import TransactionEvent
from core.reading import partitions, reader
from core.settings import Settings
from decision.features import event_ms
from features.online import History, OnlineStore
from features.registry import DAY_MS, REACH_MS

log = logging.getLogger(__name__)

# what a rebuild replays: the reach, and the store's 7 days of slack for late events
HORIZON_MS = REACH_MS + 7 * DAY_MS


def partial_for(events: Sequence[TransactionEvent], since_ms: int | None) -> npt.NDArray[np.bool_]:
    """Which events' windows reach back before the store's history mark ``since_ms``."""
    if not since_ms:  # 0: every event held; None: no batch applied yet
        return np.zeros(len(events), dtype=bool)
    times = np.fromiter((event_ms(ev) for ev in events), dtype=np.int64, count=len(events))
    return np.asarray(times - REACH_MS < since_ms)


def claim_history(settings: Settings, store: OnlineStore) -> History | None:
    """A worker's start-up: the store's mark, marked 0 first if the store cannot have missed
    anything (module docstring); None, with a warning, when the store has no mark although
    the group has consumed before: its state was lost."""
    mark = store.history()
    if mark is not None:
        return mark
    topic, group = settings.topic_transactions, settings.group_id
    consumer = reader(settings, f"fraudscore-history-{uuid.uuid4().hex[:12]}", quiet=True)
    try:
        parts = partitions(consumer, topic)
        done = _group_offsets(settings, parts)
        untouched = all(tp.offset < 0 for tp in done)
        whole = all(watermarks(consumer, tp)[0] == 0 for tp in parts)
    finally:
        consumer.close()
    if untouched and whole:
        return store.mark_history(0, "first start", only_if_absent=True)
    log.warning(
        "the feature store (prefix %s) holds no history mark although %s: its state was lost "
        "(Redis restarted empty or replaced). Events are scored on partial windows, flagged "
        "partial_history, until `fraudscore features rebuild` has run (docs/operations.md)",
        settings.redis_key_prefix,
        f"group {group} has consumed {topic} before"
        if not untouched
        else f"{topic} no longer starts at offset 0 (retention deleted its first records)",
    )
    return None


def await_rebuild(
    store: OnlineStore, stop: threading.Event, beat: Callable[[], None], every_s: float = 2.0
) -> History | None:
    """Until the store is marked whole again by a rebuild (``FRAUDSCORE_WAIT_FOR_REBUILD``):
    the mark, or None when ``stop`` is set first. ``beat`` keeps the waiting worker live."""
    log.warning(
        "waiting for `fraudscore features rebuild` before scoring (FRAUDSCORE_WAIT_FOR_REBUILD)"
    )
    while not stop.is_set():
        mark = store.history()
        if mark is not None and mark.by != "first batch":  # "first batch": emptied, unrebuilt
            log.info("feature store rebuilt (history mark %s, %s): scoring", *mark)
            return mark
        beat()
        stop.wait(every_s)
    return None


def _group_offsets(settings: Settings, parts: list[TopicPartition]) -> list[TopicPartition]:
    """The worker group's committed offsets (-1001: none), read by a consumer of that group
    that never subscribes, so it joins nothing and moves nothing."""
    consumer = reader(settings, settings.group_id, quiet=True)
    try:
        return committed(consumer, parts)
    finally:
        consumer.close()


def mark_rebuilt(store: OnlineStore, since_ms: int) -> History:
    """After a rebuild that replayed every event from ``since_ms`` (event time; 0: every
    partition from offset 0): the store holds them all, and what it held from its own mark
    on; a rebuild never makes a whole store's mark later."""
    mark = store.history()
    # a "first batch" mark is an emptied store's: what it lost before the replay's start is
    # not known to be back, so the replay's start is the mark, even when later than that one
    if mark is not None and mark.since_ms <= since_ms and mark.by != "first batch":
        return mark
    return store.mark_history(since_ms, "rebuild")


def retention_warnings(settings: Settings) -> list[str]:
    """One line per input topic that keeps less than a rebuild needs (``HORIZON_MS``), or
    whose retention could not be read; empty when both keep enough."""
    need_days = HORIZON_MS // DAY_MS
    out = []
    topics = [settings.topic_transactions, settings.topic_labels]
    for topic, kept in retention_ms(settings, topics).items():
        if kept is None:
            out.append(
                f"could not read retention.ms of {topic} (a DescribeConfigs grant is needed): "
                f"a feature rebuild needs {need_days} days of it"
            )
        elif 0 <= kept < HORIZON_MS:
            out.append(
                f"{topic} keeps {kept / DAY_MS:.1f} days (retention.ms={kept}): a feature "
                f"rebuild needs {need_days}; raise it: kafka-configs.sh --alter --entity-type "
                f"topics --entity-name {topic} --add-config retention.ms={90 * DAY_MS}"
            )
    return out
