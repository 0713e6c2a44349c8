"""SIGTERM under load, ten times (reliability row 3).

Each round starts a worker on the backlog and sends SIGTERM once it has scored a few thousand
more events. The worker must exit 0 within the grace period, having committed exactly past the
last record it scored (committed offset = last scored offset + 1 on every partition), so the
next round re-scores nothing: 0 duplicates over the whole run.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.faults.harness import Scenario
from tests.faults.readback import (
    TopicTail,
    audit,
    committed_offsets,
    finish,
    scored_positions,
    wait_scored,
)
from tests.faults.streams import Stream, feed

pytestmark = [pytest.mark.faults, pytest.mark.slow]

ROUNDS = 10
GRACE_S = 10.0  # well inside Kubernetes' default 30 s termination grace period


def test_sigterm_ten_times_under_load(
    scenario: Callable[..., Scenario], fault_stream: Stream, figures: Callable[..., None]
) -> None:
    sc = scenario(batch_max_events=250, redis_socket_timeout_ms=1000)
    ids = feed(sc, fault_stream.head(30_000))
    step = len(ids) // (ROUNDS + 2)
    scores = TopicTail(sc.kafka, sc.topic("scores"))
    exits: list[float] = []
    not_final: list[str] = []
    try:
        for rnd in range(ROUNDS):
            worker = sc.worker()
            worker.wait_log("assigned", 90)  # SIGTERM before the handler exists would be -15
            base = len(scored_positions(scores.sync()))
            wait_scored(scores, min(base + step, len(ids)), 90, worker)
            code, took = worker.stop(GRACE_S)
            assert code == 0, f"round {rnd}: exit {code} after {took:.1f}s\n{worker.tail()}"
            exits.append(round(took, 2))
            last: dict[int, int] = {}
            for p, o in scored_positions(scores.sync()):
                last[p] = max(last.get(p, -1), o)
            committed = committed_offsets(sc.kafka, sc.group, sc.tx)
            not_final += [
                f"round {rnd} partition {p}: committed {committed.get(p)}, last scored {o}"
                for p, o in last.items()
                if committed.get(p) != o + 1
            ]
        worker = sc.worker()
        codes = finish(sc, scores, ids, [worker], 180)
        result = audit(ids, scores.sync())
    finally:
        scores.close()
    figures(
        events=len(ids),
        sigterms=len(exits),
        max_exit_s=max(exits),
        exit_s=exits,
        missing=len(result.missing),
        duplicates=result.duplicates,
        commits_not_final=len(not_final),
    )
    assert codes == [0]
    assert not not_final, "final commit missing:\n" + "\n".join(not_final)
    assert not result.missing
    assert result.duplicates == 0
