"""The Redis online store against a brute-force reference, in and out of event-time order."""

from __future__ import annotations

import random

import numpy as np
import pytest

from features.online import OnlineStore, StoreEvent
from features.redis_client import connect
from features.registry import DAY_MS, RAW_INDEX, WINDOWS_DAYS

pytestmark = pytest.mark.integration


def brute_force(seen: list[StoreEvent], ev: StoreEvent) -> list[float]:
    """Customer windows (t - w, t] over the events stored so far, this one included."""
    out = []
    for w in WINDOWS_DAYS:
        mine = [
            e
            for e in seen
            if e.customer_id == ev.customer_id
            and ev.event_ms - w * DAY_MS < e.event_ms <= ev.event_ms
        ]
        out += [float(len(mine)), sum(e.amount_cents for e in mine) / 100.0]
    return out


@pytest.mark.parametrize("shuffle_share", [0.0, 0.2])
def test_customer_windows_match_brute_force(
    redis_url: str, unique_name: str, shuffle_share: float
) -> None:
    rng = random.Random(7)
    t0 = 1_522_540_800_000
    events = [
        StoreEvent(
            f"e{i}",
            f"c{rng.randrange(5)}",
            "t1",
            t0 + i * 3_600_000 + rng.randrange(3_600_000),
            rng.randrange(1, 50_000),
        )
        for i in range(1_500)
    ]  # ~62 days, 5 customers
    for i in range(len(events) - 1):  # some late events: swap neighbours out of time order
        if rng.random() < shuffle_share:
            events[i], events[i + 1] = events[i + 1], events[i]
    store = OnlineStore(connect(redis_url, socket_timeout_ms=2000), prefix=unique_name)
    seen: list[StoreEvent] = []
    cols = [RAW_INDEX[f"customer_{m}_{w}d"] for w in WINDOWS_DAYS for m in ("count", "sum")]
    for lo in range(0, len(events), 100):
        batch = events[lo : lo + 100]
        raw = store.enrich(batch)
        for j, ev in enumerate(batch):
            seen.append(ev)
            assert np.allclose(raw[j, cols], brute_force(seen, ev)), (ev, raw[j, cols])
    again = store.enrich(events[:100])  # a replay returns the first answers, changes nothing
    assert np.array_equal(again, np.vstack([store.enrich(events[:100])]))
