"""How a batch's store refusals and reused event ids become per-event verdicts (no Redis)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone

import numpy as np

from core.messages import TransactionEvent
from decision.features import fingerprint
from features.online import StoreEvent
from features.refusals import DUPLICATE, Raw, StoreRefused, isolate_refused
from features.registry import RAW_COLUMNS


def _events(n: int) -> list[StoreEvent]:
    return [StoreEvent(f"e{i}", f"c{i}", "t", i, 100, f"fp{i}") for i in range(n)]


class Store:
    """Refuses any call holding a customer in ``bad``; calls ids in ``reused`` conflicts."""

    def __init__(self, bad: set[str], reused: set[str]) -> None:
        self.bad, self.reused, self.calls = bad, reused, 0

    def apply(self, events: Sequence[StoreEvent]) -> tuple[Raw, list[int]]:
        self.calls += 1
        if any(e.customer_id in self.bad for e in events):
            raise StoreRefused("a key of another type")
        raw = np.full((len(events), len(RAW_COLUMNS)), 7.0)
        return raw, [i for i, e in enumerate(events) if e.event_id in self.reused]


def test_conflicts_and_refusals_are_told_apart_and_placed_by_batch_index() -> None:
    store = Store(bad={"c5"}, reused={"e2", "e6"})
    raw, refused = isolate_refused(store.apply, _events(8))
    assert {i: r.stage for i, r in refused.items()} == {2: "duplicate", 5: "store", 6: "duplicate"}
    assert refused[2].reason == DUPLICATE and refused[5].reason == "a key of another type"
    assert not raw[[2, 5, 6]].any() and (raw[[0, 1, 3, 4, 7]] == 7.0).all()


def test_a_batch_with_conflicts_only_is_one_call() -> None:
    store = Store(bad=set(), reused={"e0"})
    _, refused = isolate_refused(store.apply, _events(64))
    assert list(refused) == [0] and store.calls == 1


def _event(**changes: object) -> TransactionEvent:
    doc: dict[str, object] = {
        "event_id": "e1",
        "event_time": datetime(2026, 3, 1, 12, tzinfo=UTC),
        "customer_id": "c1",
        "terminal_id": "t1",
        "amount": 12.5,
        "channel": "ecommerce",
        "merchant_category": "5411",
        "country": "DE",
    }
    doc.update(changes)
    return TransactionEvent.model_validate(doc)


def test_the_fingerprint_is_stable_ignores_the_id_and_sees_every_other_field() -> None:
    base = fingerprint(_event())
    # a hard-coded digest: the fingerprint is stored in Redis, so it must not change between
    # processes (hash randomisation) or releases without a migration
    assert base == fingerprint(_event(event_id="other")) == "fddlalcblfnhlcmfhnpbbbca"
    same_instant = datetime(2026, 3, 1, 13, tzinfo=timezone(timedelta(hours=1)))
    variants = [
        _event(customer_id="c2"),
        _event(terminal_id="t2"),
        _event(amount=12.51),
        _event(currency="USD"),
        _event(channel="card_present"),
        _event(channel=None),
        _event(merchant_category="5412"),
        _event(country="FR"),
        _event(event_time=same_instant),  # same instant, another local time
    ]
    digests = [fingerprint(v) for v in variants]
    # kept in Redis: no digit at all, so no run of them can read as a card number
    assert not any(c.isdigit() for d in [base, *digests] for c in d)
    assert base not in digests and len(set(digests)) == len(digests)
