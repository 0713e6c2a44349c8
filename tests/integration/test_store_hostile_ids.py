"""Ids that try to name each other's keys, and a key of another type, on the real Redis.

The repro of the issue: customer ``dg-x`` then customer ``dg-x:agg``. With the aggregates at
``<prefix>:c:<customer>:agg`` the second id named the first one's hash and the batch script
failed with WRONGTYPE for good; the worker took it for an outage. Now every structure has a
kind of its own, and an event the store still refuses is isolated and reported, the rest of its
batch enriched.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from features.online import OnlineStore, StoreEvent
from features.redis_client import connect
from features.refusals import StoreRefused
from features.registry import DAY_MS, RAW_INDEX

pytestmark = pytest.mark.integration

T0 = 1_522_540_800_000
# every character an id may hold (core.messages.Token), in the shapes that build other keys
ODD = [
    "dg-x",
    "dg-x:agg",
    "dg-x:ca",
    "ca:dg-x",
    "c:dg-x",
    "fv:e1",
    "t:dg-x",
    "a.b_c-d:e",
    ":",
    "::",
]


def _store(redis_url: str, prefix: str) -> OnlineStore:
    return OnlineStore(connect(redis_url, socket_timeout_ms=2000), prefix=prefix)


def test_ids_that_spell_other_keys_keep_windows_of_their_own(
    redis_url: str, unique_name: str
) -> None:
    store = _store(redis_url, unique_name)
    ids = itertools.count()
    # three events per customer id and per terminal id, interleaved, one hour apart
    events = [
        StoreEvent(f"e{next(ids)}", cid, tid, T0 + k * 3_600_000, 1000)
        for k, (cid, tid) in enumerate(
            (c, t) for _ in range(3) for c, t in zip(ODD, reversed(ODD), strict=True)
        )
    ]
    raw = np.vstack([store.enrich(events[i : i + 7]) for i in range(0, len(events), 7)])
    counts = raw[:, RAW_INDEX["customer_count_1d"]]
    # each customer's 1st, 2nd and 3rd event: 1, 2, 3 of its own, whatever the others are called
    assert counts.tolist() == [1.0] * len(ODD) + [2.0] * len(ODD) + [3.0] * len(ODD)
    assert raw[:, RAW_INDEX["customer_sum_30d"]].tolist() == (counts * 10.0).tolist()
    assert raw[:, RAW_INDEX["terminal_count_1d"]].tolist() == [0.0] * len(events)  # label delay
    later = [StoreEvent(f"late-{i}", "z", tid, T0 + 9 * DAY_MS, 1) for i, tid in enumerate(ODD)]
    terminal = store.enrich(later)[:, RAW_INDEX["terminal_count_7d"]]
    assert terminal.tolist() == [3.0] * len(ODD)  # each terminal saw its own three events


def test_an_event_meeting_a_key_of_another_type_is_isolated_and_the_rest_enriched(
    redis_url: str, unique_name: str
) -> None:
    store = _store(redis_url, unique_name)
    client = connect(redis_url, socket_timeout_ms=2000)
    client.hset(f"{unique_name}:c:legacy-7", "n1", 1)  # a hash where the customer's events go
    events = [
        StoreEvent(f"e{i}", "legacy-7" if i in (2, 5) else f"c{i}", "t", T0 + i, 100)
        for i in range(8)
    ]
    with pytest.raises(StoreRefused, match="another type"):
        store.enrich(events)
    raw, refused = store.enrich_checked(events)
    assert sorted(refused) == [2, 5]
    assert {why.stage for why in refused.values()} == {"store"}
    assert all(
        "another type" in why.reason and "legacy" not in why.reason for why in refused.values()
    )
    ok = [i for i in range(8) if i not in refused]
    assert raw[ok, RAW_INDEX["customer_count_1d"]].tolist() == [1.0] * len(ok)
    assert not raw[[2, 5]].any()
    again, refused_again = store.enrich_checked(events)  # a replay: the same answers
    assert refused_again == refused and np.array_equal(again, raw)


def test_an_event_dated_far_ahead_cannot_prune_the_history_later_events_need(
    redis_url: str, unique_name: str
) -> None:
    """The issue's repro: one event dated 9999-12-31 cut a terminal's history from 20 events to
    1 and a customer's from 10 to 1. The worker dead-letters such an event (intake.ahead); the
    store, whoever calls it, never prunes past its clock plus the tolerance."""
    clock = T0 / 1000 + 30 * 86_400  # "now": a month after the history below
    store = OnlineStore(
        connect(redis_url, socket_timeout_ms=2000), prefix=unique_name, clock=lambda: clock
    )
    history = [StoreEvent(f"h{i}", "c", "t", T0 + i * DAY_MS, 500) for i in range(20)]
    store.enrich(history)
    far = 253_402_214_400_000  # 9999-12-31T00:00:00Z in ms
    store.enrich([StoreEvent("far", "c", "t", far, 500)])
    after = store.enrich([StoreEvent("next", "c", "t2", T0 + 20 * DAY_MS, 500)])
    assert after[0, RAW_INDEX["customer_count_30d"]] == 21.0  # the 20 before it, and itself
    probe = store.enrich([StoreEvent("probe", "other", "t", T0 + 27 * DAY_MS, 1)])
    assert probe[0, RAW_INDEX["terminal_count_30d"]] == 20.0  # (t - 37 d, t - 7 d]: all 20


def test_an_event_id_reused_with_other_content_is_reported_and_changes_nothing(
    redis_url: str, unique_name: str
) -> None:
    """Issue 20, item 5: an id used again by another event passed silently, with the first
    event's features. A replay (same content) still gets its first answer; other content is a
    conflict, reported by index, and leaves the windows as they were; an event stored without a
    fingerprint (by an older version) is never called a conflict."""
    store = _store(redis_url, unique_name)
    first = [
        StoreEvent(f"e{i}", "c", "t", T0 + i * 60_000, 100 * (i + 1), f"fp{i}") for i in range(4)
    ]
    raw, conflicts = store.apply(first)
    assert conflicts == []
    replay, conflicts = store.apply(first)
    assert conflicts == [] and np.array_equal(replay, raw)

    other = StoreEvent("e1", "c", "t", T0 + 1 * 60_000, 999_99, "fp-other")
    fresh = StoreEvent("e9", "c", "t", T0 + 9 * 60_000, 100, "fp9")
    unchecked = StoreEvent("e2", "c", "t", T0 + 2 * 60_000, 300)  # no fingerprint to compare
    mixed, conflicts = store.apply([fresh, other, unchecked])
    assert conflicts == [1]
    assert np.array_equal(mixed[1], raw[1]) and np.array_equal(mixed[2], raw[2])
    assert mixed[0, RAW_INDEX["customer_count_1d"]] == 5.0  # e0..e3 and e9: not e1 twice
    assert mixed[0, RAW_INDEX["customer_sum_1d"]] == (100 + 200 + 300 + 400 + 100) / 100

    kept, refused = store.enrich_checked(
        [other, StoreEvent("e10", "c", "t", T0 + 10 * 60_000, 1, "x")]
    )
    assert list(refused) == [0] and refused[0].stage == "duplicate"
    assert "id" in refused[0].reason and not kept[0].any() and kept[1].any()
