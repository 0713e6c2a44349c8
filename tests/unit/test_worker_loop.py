"""The consume loop (``worker.loop.Worker``) on in-memory clients, in both delivery modes.

Each case asserts what can be seen from outside the loop: what a read_committed reader of each
output topic sees, the group's committed offsets, which records were read again, the stats,
metrics and health flags. Faults (rebalances, Redis, aborted transactions) are in
``test_worker_loop_faults.py``; the fakes in ``loopfakes.py`` and ``looprig.py``.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from core.kafka import DeliveryFailed
from core.settings import DeliveryMode
from tests.unit.looprig import MODES, TOPIC, rig, txn
from tests.unit.test_worker_pipeline import event
from worker.guard import BadInputFlood

EOS = DeliveryMode.EXACTLY_ONCE


@pytest.mark.parametrize("mode", MODES)
def test_every_event_is_scored_alerts_follow_the_threshold_and_offsets_commit(
    mode: DeliveryMode,
) -> None:
    amounts = {0: [10.0, 60.0, 20.0, 95.0, 30.0], 1: [49.0, 50.0, 5.0, 70.0, 1.0]}
    ids = {(p, i): f"evt-{10 * p + i}" for p, am in amounts.items() for i in range(len(am))}
    r = rig(mode, {p: [txn(10 * p + i, a) for i, a in enumerate(am)] for p, am in amounts.items()})

    stats = r.run()

    assert r.scored() == r.every_record()  # one score record per event, none twice
    flagged = {ids[(p, i)] for p, am in amounts.items() for i, a in enumerate(am) if a >= 50}
    assert sorted(a["event_id"] for a in r.alerts()) == sorted(flagged)
    assert all(a["tier"] in ("review", "block") and not a["degraded"] for a in r.alerts())
    for s in r.scores():
        assert s["topic"] == TOPIC and s["event_id"] == ids[(s["partition"], s["offset"])]
        assert s["alerted"] is (s["event_id"] in flagged) and s["degraded"] is False
    assert r.consumer.committed_offsets == {0: 5, 1: 5}
    assert (stats.consumed, stats.scored, stats.alerts, stats.dead_letters) == (10, 10, 4, 0)
    assert stats.batches == 3  # batches of at most 4
    assert r.metric("fraudscore_events_in_total") == 10
    assert r.metric("fraudscore_events_scored_total") == 10
    assert r.metric("fraudscore_alerts_total", tier="any") == 4
    assert r.health.assigned and r.health.redis_ok and r.health.model_loaded
    assert not r.health.paused
    assert r.labels.assigned and r.labels.drains > stats.batches and r.labels.closed
    assert r.consumer.closed and r.producer.pending == []
    if mode is EOS:
        assert [t.committed for t in r.producer.transactions] == [True] * 3
    assert r.overruns == []


@pytest.mark.parametrize("mode", MODES)
def test_bad_records_become_dead_letters_and_the_rest_is_scored(mode: DeliveryMode) -> None:
    values = [
        txn(0),
        b"{not json",
        txn(2, 80.0),
        json.dumps({**event(3), "amount": "7"}).encode(),  # a string amount: not valid
        None,  # a tombstone
        txn(5),
    ]
    r = rig(mode, {0: values})

    stats = r.run()

    dead = r.dead_letters()
    heads = [h for _, h in dead]
    assert [(h["origin_offset"], h["stage"]) for h in heads] == [
        (b"1", b"decode"),
        (b"3", b"validate"),
        (b"4", b"decode"),
    ]
    for h in heads:
        assert (h["origin_topic"], h["origin_partition"]) == (TOPIC.encode(), b"0")
        assert h["reason"] and int(h["origin_timestamp_ms"]) > 0
    assert [v for v, _ in dead] == [b"{not json", values[3], b""]
    assert r.scored() == Counter({(0, 0): 1, (0, 2): 1, (0, 5): 1})
    assert [a["event_id"] for a in r.alerts()] == ["evt-2"]
    assert r.consumer.committed_offsets == {0: 6}  # past the bad records too
    assert (stats.consumed, stats.scored, stats.dead_letters) == (6, 3, 3)
    assert r.metric("fraudscore_dead_letters_total", stage="decode") == 2
    assert r.metric("fraudscore_dead_letters_total", stage="validate") == 1


@pytest.mark.parametrize("mode", MODES)
def test_a_flood_of_bad_records_stops_the_worker(mode: DeliveryMode) -> None:
    values = [txn(i) if i % 3 == 0 else b"garbage" for i in range(12)]  # 8 of 12 bad
    r = rig(mode, {0: values}, dlq_window=10, dlq_max_share=0.5)

    with pytest.raises(BadInputFlood, match="of the last 10 records were bad"):
        r.run()

    assert r.consumer.closed and r.labels.closed


@pytest.mark.parametrize("mode", MODES)
def test_bad_records_at_the_limit_share_do_not_stop_the_worker(mode: DeliveryMode) -> None:
    values = [txn(i) if i % 2 == 0 else b"garbage" for i in range(10)]  # 5 of 10: the limit
    r = rig(mode, {0: values}, dlq_window=10, dlq_max_share=0.5)

    stats = r.run()

    assert (stats.consumed, stats.scored, stats.dead_letters) == (10, 5, 5)
    assert r.consumer.committed_offsets == {0: 10}


@pytest.mark.parametrize("mode", MODES)
def test_a_failed_delivery_fails_the_batch_and_commits_nothing_of_it(mode: DeliveryMode) -> None:
    amounts = [10.0] * 5 + [80.0] + [10.0] * 2  # batches of 4: the alert is in the second
    r = rig(mode, {0: [txn(i, a) for i, a in enumerate(amounts)]})
    r.producer.fail_deliveries(r.settings.topic_alerts)

    with pytest.raises(DeliveryFailed, match="not acknowledged"):
        r.run()

    assert r.consumer.committed_offsets == {0: 4}  # the first batch only
    assert r.worker.stats.consumed == 4
    assert r.alerts() == []
    first = Counter({(0, i): 1 for i in range(4)})
    if mode is EOS:  # the failed batch's transaction never commits
        assert r.scored() == first
        assert [t.committed for t in r.producer.transactions] == [True]
    else:  # its other outputs may be out: at-least-once, they are redone after a restart
        assert r.scored() - first == Counter({(0, i): 1 for i in range(4, 8)})
    assert r.consumer.closed and r.labels.closed


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("blocked", ["queue full", "acks pending"])
def test_blocked_output_holds_input_until_every_output_is_acknowledged(
    mode: DeliveryMode, blocked: str
) -> None:
    r = rig(mode, {0: [txn(i, 70.0) for i in range(6)], 1: [txn(10 + i) for i in range(6)]})
    seen: list[tuple[float, frozenset[int]]] = []
    r.consumer.on_consume = lambda: seen.append(
        (r.metric("fraudscore_paused", reason="output"), frozenset(r.consumer.paused))
    )
    if blocked == "queue full":
        r.producer.queue_full(3)  # three produce calls raise BufferError
    else:
        r.producer.hold_acks(3)  # three flushes end with outputs unacknowledged

    stats = r.run()

    assert (1.0, frozenset({0, 1})) in seen  # held: every partition paused, reason output
    assert seen[-1] == (0.0, frozenset())  # then released
    assert r.consumer.paused == set()
    assert r.scored() == r.every_record()  # every output once: none lost, none twice
    assert len(r.alerts()) == 6
    assert r.consumer.committed_offsets == {0: 6, 1: 6}
    assert max(r.consumer.reads.values()) == 1
    assert stats.consumed == 12
    if mode is EOS:
        assert r.producer.aborts == 0


@pytest.mark.parametrize("mode", MODES)
def test_stop_while_outputs_are_unacknowledged_returns_without_committing(
    mode: DeliveryMode,
) -> None:
    r = rig(mode, {0: [txn(i) for i in range(6)]})
    r.producer.hold_acks(1000)
    r.producer.on_flush = r.stop.set  # SIGTERM while the first batch waits for its acks

    stats = r.run(idle_timeout_s=None)

    assert (stats.consumed, stats.batches) == (0, 0)
    assert r.consumer.committed_offsets == {}
    assert r.producer.visible == []
    if mode is EOS:
        assert r.producer.transactions == []  # neither committed nor aborted: left to fencing
    assert r.consumer.closed and r.labels.closed


@pytest.mark.parametrize("mode", MODES)
def test_stop_between_batches_commits_the_last_batch_and_closes(mode: DeliveryMode) -> None:
    r = rig(mode, {0: [txn(i) for i in range(3)]})
    r.consumer.on_consume = lambda: r.stop.set() if r.worker.stats.batches else None

    stats = r.run(idle_timeout_s=None)

    assert (stats.consumed, stats.batches) == (3, 1)
    assert r.scored() == r.every_record()
    assert r.consumer.committed_offsets == {0: 3}
    assert r.consumer.closed and r.labels.closed
    assert r.producer.pending == []  # flushed before leaving


@pytest.mark.parametrize("mode", MODES)
def test_idle_timeout_counts_from_the_last_record(mode: DeliveryMode) -> None:
    r = rig(mode, {0: []})

    def arrive() -> None:
        if r.clock.now >= 1.0 and not r.consumer.logs[0]:
            r.consumer.append(0, [txn(0), txn(1)])

    r.consumer.on_consume = arrive

    stats = r.run(idle_timeout_s=2.0)

    assert stats.consumed == 2
    assert 3.0 < r.clock.now < 3.3  # two idle seconds after the records of second 1
    assert r.consumer.committed_offsets == {0: 2}


@pytest.mark.parametrize("mode", MODES)
def test_idle_timeout_without_any_input(mode: DeliveryMode) -> None:
    r = rig(mode, {0: [], 1: []})

    stats = r.run(idle_timeout_s=0.5)

    assert (stats.consumed, stats.batches) == (0, 0)
    assert 0.5 < r.clock.now < 0.7
    assert r.consumer.committed_offsets == {} and r.producer.visible == []


@pytest.mark.parametrize("mode", MODES)
def test_max_events_stops_after_the_batch_that_reaches_it(mode: DeliveryMode) -> None:
    r = rig(mode, {0: [txn(i) for i in range(10)], 1: [txn(10 + i) for i in range(10)]})

    stats = r.run(idle_timeout_s=None, max_events=6)

    assert (stats.consumed, stats.batches) == (8, 2)  # batches of 4
    read = Counter(r.consumer.reads)
    assert sum(read.values()) == 8 and max(read.values()) == 1
    assert r.scored() == read
    assert sum(r.consumer.committed_offsets.values()) == 8
