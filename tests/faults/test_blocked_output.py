"""Output blocked (reliability row 11): the broker throttles the worker's producer to a trickle.

A client quota (``producer_byte_rate``, set with Kafka's own ``kafka-configs`` tool, i.e.
``kafka.admin.ConfigCommand`` from the broker's jars) makes the broker delay every produce
response of the worker's client id. Outputs pile up unacknowledged and the producer's queue
(2,000 records here) fills. The worker must hold its input: paused, still polling so the group
keeps it (``max.poll.interval.ms`` is 10 s here and the block lasts longer), memory bounded.
Once the quota is removed it resumes, and every event is scored: nothing lost.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults.harness import FAST_SESSION, Scenario, wait_until
from tests.faults.readback import TopicTail, audit, finish, wait_scored
from tests.faults.streams import Feeder, Stream, feed, produce

pytestmark = [pytest.mark.faults, pytest.mark.slow]

BLOCK_S = 25.0  # longer than max.poll.interval.ms: a worker that stopped polling would be evicted
JARS = Path.home() / ".cache" / "fraudscore" / "kafka-4.1.2" / "lib"


def quota(kafka: str, client_id: str, rate: int | None) -> None:
    """Set (or with None delete) the client id's producer byte-rate quota on the broker."""
    java = shutil.which("java")
    jars = glob.glob(str(JARS / "*.jar"))
    if java is None or not jars:
        pytest.fail("the broker's jars and java are needed to set a quota (fraudscore services up)")
    change = ["--add-config", f"producer_byte_rate={rate}"] if rate else ["--delete-config"]
    if rate is None:
        change.append("producer_byte_rate")
    tool = [java, "-cp", os.pathsep.join(jars), "kafka.admin.ConfigCommand"]
    target = ["--entity-type", "clients", "--entity-name", client_id]
    subprocess.run(
        [*tool, "--bootstrap-server", kafka, "--alter", *change, *target],
        check=True,
        capture_output=True,
        timeout=120,
    )


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_blocked_output_holds_input_and_loses_nothing(
    scenario: Callable[..., Scenario], fault_stream: Stream, figures: Callable[..., None]
) -> None:
    client_id = "fraudscore-blocked-output"
    sc = scenario(
        sample_rate=1.0,  # four outputs per event: the queue fills fast
        kafka_config={
            **FAST_SESSION,
            "client.id": client_id,
            "max.poll.interval.ms": "10000",
            "queue.buffering.max.messages": "2000",
        },
    )
    ids = feed(sc, fault_stream.head(30_000))
    scores = TopicTail(sc.kafka, sc.topic("scores"))
    quota(sc.kafka, client_id, 1024)  # bytes/s: a trickle
    try:
        worker = sc.worker()
        worker.wait_log("consuming", 90)
        assert wait_until(lambda: "input paused: output" in worker.log(), 90), worker.tail()
        t0, rss = time.monotonic(), []
        while time.monotonic() - t0 < BLOCK_S:
            rss.append(rss_mb(worker.pid))
            time.sleep(1)
        held = scores.distinct()
        assert worker.alive(), worker.tail()
    finally:
        quota(sc.kafka, client_id, None)
    codes = finish(sc, scores, ids, [worker], 240)
    result = audit(ids, scores.sync())
    scores.close()
    log = worker.log()
    figures(
        events=len(ids),
        blocked_s=BLOCK_S,
        scored_while_blocked=held,
        rss_mb_first=round(rss[0]),
        rss_mb_max=round(max(rss)),
        missing=len(result.missing),
        duplicates=result.duplicates,
    )
    assert result.missing == set(), f"{len(result.missing)} events never scored"
    assert codes == [0], log[-3000:]
    assert log.count("assigned [") == 1 and " lost " not in log and "MAXPOLL" not in log, (
        "the group took the partitions away while the output was blocked"
    )
    assert "input resumed (output cleared)" in log
    assert max(rss) - rss[0] < 100, f"memory grew {max(rss) - rss[0]:.0f} MB while blocked"


def test_exactly_once_batch_whose_partitions_move_while_held_is_redone(
    scenario: Callable[..., Scenario], fault_stream: Stream, figures: Callable[..., None]
) -> None:
    """Exactly-once: while its output is blocked inside an open transaction, a second worker
    joins and the rebalance takes a partition of the held batch. Its new owner reads it from
    the last commit, so the first worker must abort that batch, not commit it."""
    blocked_id = "fraudscore-eos-blocked"
    sc = scenario(
        2,  # the joining worker takes one of the two
        delivery="exactly-once",
        sample_rate=0.0,
        batch_max_ms=200,  # a fifth of a second of input per batch: records of both partitions
        # A held batch's outputs (~80 KB) take seconds at the quota below, so it stays held for
        # most of its life. The broker throttles each produce response by up to its 11 s quota
        # window while the rate it measured still includes the burst before the quota, so a
        # batch can need a few such responses: a transaction timeout of 2 minutes keeps that
        # from failing the batch (the 30 s default did, on a loaded machine).
        batch_max_events=200,
        kafka_config={
            **FAST_SESSION,
            "client.id": blocked_id,
            "max.poll.interval.ms": "10000",
            "transaction.timeout.ms": "120000",
        },
    )
    stream = fault_stream.head(20_000)
    produce(sc.kafka, sc.topic("labels"), stream.labels())
    ids = stream.event_ids()
    scores = TopicTail(sc.kafka, sc.topic("scores"))  # read_committed
    feeder = Feeder(sc.kafka, sc.tx, stream.transactions(), 1000)
    try:
        first = sc.worker("wa")
        first.wait_log("consuming", 90)
        feeder.start()
        wait_scored(scores, 2000, 60, first)
        # Slow enough that a batch's acknowledgements take seconds (input is held after 1 s),
        # fast enough that they come well within the transaction timeout: a trickle would fail
        # the batch instead (librdkafka's message timeout is the transaction timeout).
        quota(sc.kafka, blocked_id, 20_000)
        assert wait_until(lambda: "input paused: output" in first.log(), 60), first.tail()
        held = scores.distinct()
        free = {**FAST_SESSION, "client.id": "fraudscore-eos-free"}
        second = sc.worker("wb", kafka_config=free)
        assert wait_until(lambda: "revoked [" in first.log(), 60), first.tail()
    finally:
        quota(sc.kafka, blocked_id, None)
    feeder.finish(120)
    codes = finish(sc, scores, ids, [first, second], 240)
    result = audit(ids, scores.sync())
    feeder.stopped.set()
    scores.close()
    log = first.log()
    figures(
        events=len(ids),
        scored_before_the_block=held,
        aborted=log.count("aborting transaction"),
        missing=len(result.missing),
        duplicates=result.duplicates,
        exits=codes,
    )
    assert "revoked during the batch" in log, f"the held batch kept its partitions:\n{log[-3000:]}"
    assert result.missing == set(), f"{len(result.missing)} events never scored"
    assert result.duplicates == 0, "a read_committed reader saw duplicates"
    assert codes == [0, 0], log[-3000:]
