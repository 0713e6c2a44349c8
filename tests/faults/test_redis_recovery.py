"""Redis loses its process, then comes back: from its AOF, or empty and rebuilt (issue 18).

Both run the worker under load (``RATE`` a second), kill redis-server with SIGKILL once 4,000
events are scored, and compare the features the worker served (every event sampled) with the
offline features of the same stream, the golden comparison of the other Redis tests:

- restarted from its append-only file (``appendfsync everysec``, as shipped): a process kill
  loses nothing, since Redis writes the AOF before it answers (the one-second fsync window only
  matters when the host itself goes down), so every feature equals the offline one;
- restarted empty: the worker flags what it scores ``partial_history`` at once, a rebuild runs
  while it scores, and every event scored after the rebuild has the offline features.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from core.settings import Settings
from decision.rebuild import RebuildStats, rebuild
from features.offline import compute_features
from features.online import History
from features.open import open_store
from features.registry import REACH_MS
from tests.faults.harness import RedisServer, Scenario, wait_until
from tests.faults.readback import Rec, TopicTail, audit, finish, wait_scored
from tests.faults.streams import Feeder, Stream, produce
from tests.faults.test_redis import BUDGET_S, RATE, between

pytestmark = [pytest.mark.faults, pytest.mark.slow]


def offline_features(stream: Stream, n: int) -> pd.DataFrame:
    df = stream.df.sort_values(["TX_DATETIME", "TRANSACTION_ID"]).head(n)
    offline = compute_features(df)
    offline.index = [f"fx-{i}" for i in df["TRANSACTION_ID"]]
    return offline


def mismatches(samples: list[Rec], offline: pd.DataFrame) -> int:
    """How many sampled events got features other than the offline ones."""
    if not samples:
        return 0
    cols = list(offline.columns)
    got = np.array([[r.doc["features"][c] for c in cols] for r in samples])
    want = offline.loc[[r.doc["event_id"] for r in samples], cols].to_numpy()
    return int((~np.isclose(got, want, rtol=0, atol=1e-9)).any(axis=1).sum())


def event_ms(rec: Rec) -> int:
    return int(datetime.fromisoformat(rec.doc["event_time"]).timestamp() * 1000)


def run_kill(
    sc: Scenario,
    redis: RedisServer,
    stream: Stream,
    after_restart: Callable[[], None] = lambda: None,
) -> tuple[list[Rec], list[Rec], set[str], list[int | None], float]:
    """Feed, SIGKILL redis-server at 4,000 scored, restart it, ``after_restart()``, drain.

    Returns the score records, the samples, the ids, the exit codes and the restart time."""
    produce(sc.kafka, sc.topic("labels"), stream.labels())
    ids = stream.event_ids()
    samples = TopicTail(sc.kafka, sc.topic("samples"))
    scores = TopicTail(sc.kafka, sc.topic("scores"))
    feeder = Feeder(sc.kafka, sc.tx, stream.transactions(), RATE)
    try:
        worker = sc.worker()
        worker.wait_log("assigned", 60)
        feeder.start()
        wait_scored(scores, 4000, 60, worker)
        redis.kill9()
        time.sleep(3.0)  # the outage's duration
        redis.start()
        restarted = time.time()
        after_restart()
        feeder.finish(120)
        codes = finish(sc, scores, ids, [worker], 120)
        assert "Traceback" not in worker.log()
        return scores.sync(), samples.sync(), ids, codes, restarted
    finally:
        feeder.stopped.set()
        scores.close()
        samples.close()


def test_redis_killed_and_restarted_from_its_aof(
    scenario: Callable[..., Scenario],
    own_redis: RedisServer,
    fault_stream: Stream,
    figures: Callable[..., None],
) -> None:
    own_redis.close()
    own_redis.aof = True  # as devstack and compose ship it
    own_redis.start()
    sc = scenario(redis=own_redis.url, batch_max_events=200, sample_rate=1.0)
    stream = fault_stream.head(16_000)
    recs, samples, ids, codes, restarted = run_kill(sc, own_redis, stream)
    offline = offline_features(stream, len(ids))
    after = between(samples, restarted, time.time())
    mark = own_redis.client().hgetall(f"{sc.name}:state")
    figures(
        events=len(ids),
        missing=len(audit(ids, recs).missing),
        samples_after_restart=len(after),
        feature_mismatches=mismatches(samples, offline),
        partial_history=sum(r.doc["partial_history"] for r in recs),
        history_mark=mark,
    )
    assert codes == [0]
    assert not audit(ids, recs).missing
    assert after, "nothing scored after the restart"
    assert mark == {b"since": b"0", b"by": b"first start"}, "the AOF kept the mark"
    assert mismatches(samples, offline) == 0, "a window update was lost with the process"
    assert not any(r.doc["partial_history"] for r in recs)


def test_redis_restarted_empty_is_flagged_at_once_and_rebuilt(
    scenario: Callable[..., Scenario],
    own_redis: RedisServer,
    fault_stream: Stream,
    figures: Callable[..., None],
) -> None:
    sc = scenario(redis=own_redis.url, batch_max_events=200, sample_rate=1.0)
    settings = Settings(
        kafka_bootstrap_servers=sc.kafka,
        redis_url=own_redis.url,
        redis_key_prefix=sc.name,
        topic_transactions=sc.tx,
        topic_labels=sc.topic("labels"),
    )
    rebuilt: dict[str, object] = {}

    def rebuild_now() -> None:
        store = open_store(settings)
        # the worker's first batch on the empty store marks it (its Redis retries back off)
        wait_until(lambda: store.history() is not None, 30)
        time.sleep(1.0)  # and it scores on the empty store a while
        rebuilt["found"], rebuilt["started"] = store.history(), time.time()
        stats = rebuild(settings, store)
        rebuilt["done"], rebuilt["stats"] = time.time(), stats

    stream = fault_stream.head(30_000)  # ~30 s: traffic goes on well past the rebuild
    recs, samples, ids, codes, restarted = run_kill(sc, own_redis, stream, rebuild_now)
    found, started, done_at = rebuilt["found"], float(rebuilt["started"]), float(rebuilt["done"])
    stats = rebuilt["stats"]
    assert isinstance(found, History) and isinstance(stats, RebuildStats)
    offline = offline_features(stream, len(ids))
    settled = done_at + BUDGET_S  # a batch already past its script when the mark changed
    scored_empty = between(recs, restarted, started)  # scripts run before the mark changed
    after_rebuild = between(samples, settled, time.time())
    figures(
        events=len(ids),
        mark_found=found,
        rebuild_seconds=round(stats.seconds, 2),
        rebuild_transactions=stats.transactions,
        scored_on_the_empty_store=len(scored_empty),
        flagged_partial=sum(r.doc["partial_history"] for r in scored_empty),
        samples_after_rebuild=len(after_rebuild),
        mismatches_after_rebuild=mismatches(after_rebuild, offline),
    )
    assert codes == [0]
    assert not audit(ids, recs).missing
    assert not any(r.doc["partial_history"] for r in between(recs, 0, restarted - 3.0))
    assert scored_empty, "nothing scored between the restart and the rebuild"
    # the first batch on the empty store marked it: everything reaching back past it is flagged
    assert found.by == "first batch"
    partial = [r.doc["partial_history"] for r in scored_empty]
    assert partial == [event_ms(r) - REACH_MS < found.since_ms for r in scored_empty]
    assert any(partial)
    assert stats.history_since_ms == 0, "replayed from offset 0: the store holds all history"
    assert after_rebuild, "nothing scored after the rebuild"
    assert not any(r.doc["partial_history"] for r in between(recs, settled, time.time()))
    assert mismatches(after_rebuild, offline) == 0
