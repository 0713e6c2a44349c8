"""The consume loop with allow and block lists: a list changed between batches decides from the
next batch on, the outputs name the list, and ``ListSource`` reads the lists only when their
version moves and keeps them through a Redis error."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from core.settings import DeliveryMode
from decision.lists import ListSource
from features.lists import ListSnapshot
from features.online import StoreUnavailable
from tests.unit.looprig import MODES, rig, txn

BLOCK_CUST_1 = ListSnapshot(1, {}, {"customer_id": frozenset({"cust-1"})})


class FakeLists:
    """``ListStore``'s reads, from ``lists``; ``failing`` makes them raise as Redis down."""

    def __init__(self) -> None:
        self.lists = ListSnapshot()
        self.failing = False
        self.versions = self.snapshots = 0

    def version(self) -> int:
        self.versions += 1
        if self.failing:
            raise StoreUnavailable("injected: GET failed")
        return self.lists.version

    def snapshot(self) -> ListSnapshot:
        self.snapshots += 1
        if self.failing:
            raise StoreUnavailable("injected: MULTI failed")
        return self.lists


def follow(store: FakeLists, clock: Callable[[], float], **kw: Any) -> ListSource:
    return ListSource(store, check_every_s=1.0, clock=clock, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", MODES)
def test_a_list_changed_between_batches_decides_from_the_next_batch(mode: DeliveryMode) -> None:
    store = FakeLists()
    source = follow(store, lambda: r.clock.monotonic())
    r = rig(mode, {0: [txn(i, 10.0) for i in range(8)]}, lists=source)  # two batches of four

    def block_cust_1_after_first_batch() -> None:
        if r.worker.stats.batches == 1 and store.lists.version == 0:
            store.lists = BLOCK_CUST_1  # fraudscore lists add, in another process
            r.clock.advance(1.0)  # one list check interval

    r.consumer.on_consume = block_cust_1_after_first_batch

    stats = r.run()

    scores = sorted(r.scores(), key=lambda s: s["offset"])  # event i: customer cust-{i % 3}
    decisions = [s["decision"] for s in scores]
    assert decisions == ["allow"] * 4 + ["block", "allow", "allow", "block"]
    assert [s["rules"] for s in scores][4:] == [
        ["list:block:customer_id"],
        [],
        [],
        ["list:block:customer_id"],
    ]
    assert all(s["policy_version"] is None for s in scores)
    alerts = {a["event_id"]: a for a in r.alerts()}
    assert set(alerts) == {"evt-4", "evt-7"} and alerts["evt-4"]["tier"] == "block"
    assert alerts["evt-4"]["rules"] == ["list:block:customer_id"]
    assert stats.consumed == 8 and r.scored() == r.every_record()
    assert r.metric("fraudscore_list_hits_total", list="list:block:customer_id") == 2
    assert r.metric("fraudscore_lists_version") == 1
    assert r.metric("fraudscore_decisions_total", action="block") == 2
    assert store.snapshots == 2  # the empty lists at the first batch, version 1 at the second


def test_the_source_checks_the_version_each_interval_and_reads_only_when_it_moved() -> None:
    store, now = FakeLists(), [0.0]
    source = follow(store, lambda: now[0])
    first = source()
    assert first == ListSnapshot() and (store.versions, store.snapshots) == (1, 1)
    store.lists = BLOCK_CUST_1
    now[0] = 0.9
    assert source() is first and store.versions == 1  # within the interval: Redis not asked
    now[0] = 1.0
    assert source() is BLOCK_CUST_1 and (store.versions, store.snapshots) == (2, 2)
    now[0] = 2.0
    assert source() is BLOCK_CUST_1 and (store.versions, store.snapshots) == (3, 2)


def test_a_redis_error_keeps_the_lists_in_force_and_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="decision.lists")
    store, now, errors = FakeLists(), [0.0], [0]
    store.lists = BLOCK_CUST_1

    def count() -> None:
        errors[0] += 1

    source = follow(store, lambda: now[0], on_error=count)
    assert source() is BLOCK_CUST_1
    store.failing = True
    for t in (1.0, 2.0, 3.0):
        now[0] = t
        assert source() is BLOCK_CUST_1
    assert errors[0] == 3
    assert caplog.text.count("cannot read the allow and block lists") == 1
    assert "version 1 in force" in caplog.text
    store.failing, now[0] = False, 4.0
    assert source() is BLOCK_CUST_1 and "can be read again" in caplog.text


def test_before_the_first_read_there_are_no_lists(caplog: pytest.LogCaptureFixture) -> None:
    store = FakeLists()
    store.failing = True
    assert ListSource(store)() is None  # type: ignore[arg-type]
    assert "no lists yet" in caplog.text
