"""Workers join and leave every few seconds under load (reliability row 4, cooperative-sticky).

A seeded schedule starts workers, stops them with SIGTERM, and freezes one (SIGSTOP) past its
session timeout so the group takes its partitions away ("lost") before it thaws. Meanwhile a
monitor reads the group's committed offsets twice a second: a committed offset that moves
backwards is a commit for a partition its committer no longer owned. At the end every event is
scored and the group's lag returns to 0. Exactly-once runs the same schedule: a transaction whose
offsets a rebalance refuses is aborted and its batch read again, so a read_committed reader
sees every event once.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, TopicPartition

from tests.faults.harness import Scenario, WorkerProc, wait_until
from tests.faults.readback import TopicTail, audit, finish, lag
from tests.faults.streams import Feeder, Stream, produce

pytestmark = [pytest.mark.faults, pytest.mark.slow]

PACE_S = 3.0  # "every few seconds"


class CommitMonitor(threading.Thread):
    """Polls committed offsets; records every (partition, before, after) that went backwards."""

    def __init__(self, sc: Scenario) -> None:
        super().__init__(name="commit-monitor", daemon=True)
        self.sc = sc
        self.backwards: list[tuple[int, int, int]] = []
        self.polls = 0
        self._halt = threading.Event()
        self.start()

    def run(self) -> None:
        c = Consumer({"bootstrap.servers": self.sc.kafka, "group.id": self.sc.group})
        try:
            parts = c.list_topics(self.sc.tx, timeout=10).topics[self.sc.tx].partitions
            tps = [TopicPartition(self.sc.tx, p) for p in parts]
            last: dict[int, int] = {}
            while not self._halt.wait(0.5):
                try:
                    now = {tp.partition: tp.offset for tp in c.committed(tps, timeout=5)}
                except Exception:  # coordinator moving: just poll again
                    continue
                self.polls += 1
                for p, off in now.items():
                    if off < last.get(p, -1001):
                        self.backwards.append((p, last[p], off))
                    last[p] = max(off, last.get(p, -1001))
        finally:
            c.close()

    def close(self) -> None:
        self._halt.set()
        self.join(30)


@pytest.mark.parametrize("delivery", ["at-least-once", "exactly-once"])
def test_workers_join_and_leave_under_load(
    scenario: Callable[..., Scenario],
    fault_stream: Stream,
    figures: Callable[..., None],
    delivery: str,
) -> None:
    sc = scenario(6, batch_max_events=200, redis_socket_timeout_ms=1000, delivery=delivery)
    stream = fault_stream.head(30_000)
    produce(sc.kafka, sc.topic("labels"), stream.labels())
    ids = stream.event_ids()
    scores = TopicTail(sc.kafka, sc.topic("scores"))
    feeder = Feeder(sc.kafka, sc.tx, stream.transactions(), 1000)
    monitor = CommitMonitor(sc)
    live: dict[str, WorkerProc] = {}
    stopped: list[tuple[str, int | None, float]] = []

    def join(name: str) -> None:
        live[name] = sc.worker(name)
        live[name].wait_log("consuming", 60)

    def leave(name: str) -> None:
        code, took = live.pop(name).stop(30)
        stopped.append((name, code, round(took, 1)))

    def freeze(name: str) -> None:
        """Frozen past the 6 s session timeout: its partitions are reassigned, then it thaws."""
        live[name].signal(signal.SIGSTOP)
        time.sleep(8.0)
        live[name].signal(signal.SIGCONT)

    schedule: list[tuple[Callable[[str], None], str]] = [
        (join, "wb"),
        (join, "wc"),
        (leave, "wa"),
        (join, "wd"),
        (freeze, "wc"),
        (leave, "wb"),
        (join, "we"),
        (leave, "wd"),
    ]
    try:
        join("wa")
        feeder.start()
        for action, name in schedule:
            time.sleep(PACE_S)  # pacing of the schedule, not a wait for a result
            action(name)
        feeder.finish(120)
        input_done = time.monotonic()
        codes = finish(sc, scores, ids, list(live.values()), 180)
        drained_s = time.monotonic() - input_done
        final_lag = lag(sc.kafka, sc.group, sc.tx)
        result = audit(ids, scores.sync())
    finally:
        feeder.stopped.set()
        monitor.close()
        scores.close()
    log = sc.logs()
    figures(
        events=len(ids),
        joins=sum(a is join for a, _ in schedule) + 1,
        leaves=len(stopped),
        freezes=sum(a is freeze for a, _ in schedule),
        lost_logged=log.count("lost ["),
        transactions_aborted=log.count("aborting transaction"),
        missing=len(result.missing),
        duplicates=result.duplicates,
        lag_after_s=round(drained_s, 1),
        final_lag=final_lag,
        commits_backwards=len(monitor.backwards),
        monitor_polls=monitor.polls,
    )
    assert all(code == 0 for _, code, _ in stopped), f"a leaving worker failed: {stopped}"
    failed = [p.tail() for p, code in zip(live.values(), codes, strict=True) if code != 0]
    assert not failed, f"exit statuses {codes}; the failed workers' logs end:\n" + "\n--\n".join(
        failed
    )
    assert not result.missing, f"{len(result.missing)} events never scored"
    if delivery == "exactly-once":  # the tail reads read_committed
        assert result.duplicates == 0, "a read_committed reader saw duplicates"
    assert final_lag == 0, "the group's lag did not return to 0"
    assert not monitor.backwards, f"committed offsets went backwards: {monitor.backwards}"
    assert wait_until(lambda: monitor.polls > 10, 1), "the commit monitor barely ran"
