"""The consume loop under faults, on in-memory clients: rebalances mid-batch, Redis outages
(pause and degrade policies), aborted and failed transactions.

As in ``test_worker_loop.py``, only what is visible from outside the loop is asserted: what a
read_committed reader sees, the group's committed offsets, the records read again, stats,
metrics and health.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable

import pytest
from confluent_kafka import KafkaError, KafkaException

from core.settings import DeliveryMode, RedisFailurePolicy
from tests.unit.looprig import MODES, Rig, rig, txn
from worker.commit import TXN_ATTEMPTS

EOS = DeliveryMode.EXACTLY_ONCE


def two_partitions(n: int = 6) -> dict[int, list[bytes | None]]:
    return {0: [txn(i) for i in range(n)], 1: [txn(100 + i) for i in range(n)]}


def reread(r: Rig) -> set[tuple[int, int]]:
    return {k for k, n in r.consumer.reads.items() if n > 1}


def positions(values: list[dict[str, object]]) -> set[tuple[object, object]]:
    return {(v["partition"], v["offset"]) for v in values}


def aborted_scores(r: Rig) -> set[tuple[object, object]]:
    topic = r.settings.topic_scores
    return positions(
        [json.loads(m.value() or b"") for m in r.producer.aborted if m.topic() == topic]
    )


# -- rebalances -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("revoked", [[1], [0, 1]])
def test_partition_revoked_while_its_outputs_wait_for_acks(
    mode: DeliveryMode, revoked: list[int]
) -> None:
    r = rig(mode, two_partitions())
    r.producer.hold_acks(1)  # the first batch waits for its acks: the loop polls meanwhile
    first_batch: set[tuple[object, object]] = set()

    def revoke() -> None:  # first flush: note the batch, revoke (fires in the wait's poll)
        first_batch.update(positions([json.loads(m.value() or b"") for m, _ in r.producer.pending]))
        r.consumer.rebalance(revoke=revoked)

    steps: list[Callable[[], None]] = [revoke, lambda: r.consumer.rebalance(assign=revoked)]
    r.producer.on_flush = lambda: steps.pop(0)() if steps else None

    stats = r.run()

    assert len(first_batch) == 4 and {p for p, _ in first_batch} == {0, 1}
    assert r.consumer.committed_offsets == {0: 6, 1: 6}
    if mode is EOS:  # the whole transaction aborted, the batch read again, scored once
        assert aborted_scores(r) == first_batch
        assert reread(r) == first_batch
        assert r.scored() == r.every_record()
        assert r.metric("fraudscore_transactions_aborted_total") == 1
        assert stats.consumed == 12
    else:  # offsets stored for the partitions still owned: the revoked ones are read again
        assert reread(r) == {(p, o) for p, o in first_batch if p in revoked}
        assert r.scored() == r.consumer.reads  # every read scored: the re-read ones twice
        assert stats.consumed == 12 + len(reread(r))
    assert r.consumer.paused == set()  # a partition paused when revoked resumes when regained


@pytest.mark.parametrize("mode", MODES)
def test_partition_revoked_while_its_batch_is_consumed_is_not_committed(
    mode: DeliveryMode,
) -> None:
    """A revocation served by the batch's second consume call (the linger of ``poll_batch``),
    after the first call returned a record of that partition: its new owner starts from the
    last commit, so this worker must not commit the record's offset (nor, exactly-once, make
    its outputs visible), as when a partition goes while outputs wait for acks."""
    r = rig(mode, {0: [], 1: [txn(i) for i in range(3)]})

    def revoke_after_first_record() -> None:
        if r.consumer.reads[(1, 0)] == 1 and 1 in r.consumer.assigned:
            r.consumer.rebalance(revoke=[1])

    r.consumer.on_consume = revoke_after_first_record

    r.run()

    assert r.consumer.reads == Counter({(1, 0): 1})  # one record read, then p1 was gone
    assert 1 not in r.consumer.committed_offsets  # the new owner starts from the last commit
    if mode is EOS:
        assert r.scores() == []  # the new owner scores it: a visible one here is a duplicate


@pytest.mark.parametrize("mode", MODES)
def test_partition_revoked_and_regained_while_its_batch_is_consumed_is_read_again(
    mode: DeliveryMode,
) -> None:
    """Handed straight back within the same poll: the partition restarts from the last commit,
    so the records read before the revocation are dropped and read again, never skipped and,
    in either mode, scored once."""
    r = rig(mode, {0: [], 1: [txn(i) for i in range(3)]})

    def bounce_after_first_record() -> None:
        if r.consumer.reads[(1, 0)] == 1 and not r.consumer._events:
            r.consumer.rebalance(revoke=[1], assign=[1])
            r.consumer.on_consume = None

    r.consumer.on_consume = bounce_after_first_record

    stats = r.run()

    # dropped, then read again as the partition's owner (what the same poll returned after the
    # reassignment is dropped and read again too: a rare rebalance costs a re-read, not a loss)
    assert r.consumer.reads[(1, 0)] >= 2
    assert r.consumer.committed_offsets == {1: 3}
    assert r.scored() == r.every_record()  # each record scored exactly once
    assert stats.consumed == 3


@pytest.mark.parametrize("mode", MODES)
def test_lost_partition_while_outputs_wait_is_not_committed(mode: DeliveryMode) -> None:
    r = rig(mode, two_partitions())
    r.producer.hold_acks(1)
    steps: list[Callable[[], None]] = [lambda: r.consumer.lose([1])]
    r.producer.on_flush = lambda: steps.pop(0)() if steps else None

    stats = r.run()

    assert r.consumer.committed_offsets == {0: 6}  # no commit for the lost partition
    if mode is EOS:
        assert r.producer.aborts == 1 and r.metric("fraudscore_transactions_aborted_total") == 1
        assert {p for p, _ in r.scored()} == {0}  # p1's batch outputs aborted, never visible
    assert stats.consumed == 6 + (0 if mode is EOS else 1)


# -- Redis ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_redis_outage_pauses_input_rewinds_and_scores_every_event_once(
    mode: DeliveryMode,
) -> None:
    r = rig(mode, two_partitions(5))
    r.store.fail_enrich(1, pings=3)  # the first batch's enrich fails, then three pings
    seen: list[tuple[bool, bool, frozenset[int]]] = []
    r.consumer.on_consume = lambda: seen.append(
        (r.health.paused, r.health.redis_ok, frozenset(r.consumer.paused))
    )

    stats = r.run()

    assert (True, False, frozenset({0, 1})) in seen  # held: not ready, every partition paused
    assert sum(h[0] for h in seen) == 4  # one poll per failed ping, and the successful one
    assert len(reread(r)) == 4 and max(r.consumer.reads.values()) == 2  # the batch, once more
    assert r.scored() == r.every_record()
    assert not any(s["degraded"] for s in r.scores())
    assert not r.health.paused and r.health.redis_ok and r.health.ready()
    assert r.consumer.paused == set()
    assert r.metric("fraudscore_redis_errors_total") == 4
    assert r.metric("fraudscore_paused", reason="redis") == 0
    assert r.consumer.committed_offsets == {0: 5, 1: 5}
    assert (stats.consumed, stats.degraded) == (10, 0)
    if mode is EOS:
        assert r.producer.aborts == 0


@pytest.mark.parametrize("mode", MODES)
def test_redis_outage_with_degrade_policy_scores_with_defaults(mode: DeliveryMode) -> None:
    amounts = [80.0 if i in (1, 6, 9) else 10.0 for i in range(12)]
    r = rig(
        mode,
        {0: [txn(i, a) for i, a in enumerate(amounts)]},
        redis_failure_policy=RedisFailurePolicy.DEGRADE,
    )
    r.store.fail_enrich(2)  # the first two batches (4 events each)
    seen: list[bool] = []
    r.consumer.on_consume = lambda: seen.append(r.health.paused)

    stats = r.run()

    assert sorted(s["offset"] for s in r.scores() if s["degraded"]) == list(range(8))
    assert [(a["event_id"], a["degraded"]) for a in r.alerts()] == [
        ("evt-1", True),
        ("evt-6", True),
        ("evt-9", False),
    ]
    assert r.scored() == r.every_record() and max(r.consumer.reads.values()) == 1
    assert stats.degraded == 8 == r.metric("fraudscore_events_degraded_total")
    assert r.metric("fraudscore_redis_errors_total") == 2
    assert not any(seen) and r.consumer.paused == set()
    assert r.consumer.committed_offsets == {0: 12}


@pytest.mark.parametrize("mode", MODES)
def test_stop_during_a_redis_outage_returns_with_the_batch_uncommitted(
    mode: DeliveryMode,
) -> None:
    r = rig(mode, {0: [txn(i) for i in range(6)]})
    r.store.fail_enrich(1, pings=10**6)
    r.consumer.on_consume = lambda: r.stop.set() if r.health.paused else None

    stats = r.run(idle_timeout_s=None)

    assert (stats.consumed, stats.batches) == (0, 0)
    assert r.producer.visible == [] and r.consumer.committed_offsets == {}
    assert r.consumer.closed and r.labels.closed


# -- transactions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("failures", [1, 3])
def test_aborted_transaction_is_rewound_backed_off_and_redone(failures: int) -> None:
    r = rig(EOS, two_partitions(4))
    r.producer.fail_commits(failures)  # commit_transaction: an abortable error, that many times

    stats = r.run()

    committed = [t.committed for t in r.producer.transactions]
    assert committed == [False] * failures + [True] * (len(committed) - failures)
    assert r.stop.waits == [0.05, 0.1, 0.2][:failures]  # backed off, longer each time
    assert r.metric("fraudscore_transactions_aborted_total") == failures
    assert reread(r) == aborted_scores(r) and len(reread(r)) == 4  # the batch, read again
    assert max(r.consumer.reads.values()) == 1 + failures
    assert r.scored() == r.every_record()  # no aborted output counted as committed
    assert r.consumer.committed_offsets == {0: 4, 1: 4}
    assert (stats.consumed, stats.batches) == (8, 2)


def time_out(r: Rig, call: str, n: int) -> None:
    """The next ``n`` calls of the producer's ``call`` time out, as during a broker restart: a
    retriable error, the transaction left as it was."""
    real, left = getattr(r.producer, call), [n]

    def timing_out(*args: object) -> object:
        if left[0] > 0:
            left[0] -= 1
            err = KafkaError(KafkaError._TIMED_OUT, f"{call}: timed out", retriable=True)
            raise KafkaException(err)
        return real(*args)

    setattr(r.producer, call, timing_out)


def test_offsets_that_time_out_abort_the_transaction_and_the_batch_is_redone() -> None:
    """A broker restart times out ``send_offsets_to_transaction`` (retriable): the worker
    aborts and redoes the batch instead of stopping (it used to exit on this)."""
    r = rig(EOS, two_partitions(4))
    time_out(r, "send_offsets_to_transaction", 1)

    stats = r.run()

    assert [t.committed for t in r.producer.transactions] == [False, True, True]
    assert r.scored() == r.every_record() and len(reread(r)) == 4
    assert r.consumer.committed_offsets == {0: 4, 1: 4}
    assert (stats.consumed, stats.batches) == (8, 2)


def test_a_commit_that_times_out_is_retried_not_aborted() -> None:
    r = rig(EOS, two_partitions(4))
    time_out(r, "commit_transaction", TXN_ATTEMPTS - 1)

    r.run()

    assert [t.committed for t in r.producer.transactions] == [True, True]
    assert r.producer.aborts == 0 and reread(r) == set()
    assert r.consumer.committed_offsets == {0: 4, 1: 4}


def test_a_commit_that_keeps_timing_out_stops_the_worker() -> None:
    r = rig(EOS, two_partitions(4))
    time_out(r, "commit_transaction", TXN_ATTEMPTS)

    with pytest.raises(KafkaException, match="timed out"):
        r.run()

    assert r.producer.visible == [] and r.consumer.committed_offsets == {}


def test_a_transaction_error_that_needs_no_abort_stops_the_worker() -> None:
    r = rig(EOS, two_partitions(4))
    r.producer.fail_commits(1, abortable=False)

    with pytest.raises(KafkaException, match="injected"):
        r.run()

    assert r.producer.visible == [] and r.consumer.committed_offsets == {}
    assert r.producer.aborts == 0 and r.stop.waits == []
    assert r.consumer.closed and r.labels.closed


@pytest.mark.parametrize("mode", MODES)
def test_an_event_the_store_refuses_is_a_dead_letter_and_the_batch_goes_on(
    mode: DeliveryMode,
) -> None:
    """A valid event that Redis cannot take (a key of another type) is the event's problem,
    not an outage: it is dead-lettered with stage ``store``; the others are scored, nothing
    pauses, and the partition moves on."""
    r = rig(mode, {0: [txn(i) for i in range(9)]})
    r.store.refused = {"cust-1"}  # events 1, 4 and 7
    seen: list[bool] = []
    r.consumer.on_consume = lambda: seen.append(r.health.paused)

    stats = r.run()

    assert sorted(s["event_id"] for s in r.scores()) == [f"evt-{i}" for i in (0, 2, 3, 5, 6, 8)]
    letters = r.dead_letters()
    assert sorted(json.loads(v or b"{}")["event_id"] for v, _ in letters) == [
        "evt-1",
        "evt-4",
        "evt-7",
    ]
    assert {h["stage"] for _, h in letters} == {b"store"}
    assert all(b"another type" in h["reason"] for _, h in letters)
    assert r.metric("fraudscore_dead_letters_total", stage="store") == 3
    assert r.metric("fraudscore_redis_errors_total") == 0 and not any(seen)
    assert r.consumer.committed_offsets == {0: 9}
    assert (stats.scored, stats.dead_letters) == (6, 3)
