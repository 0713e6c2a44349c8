"""Valid events that used to stop a worker or corrupt the store, on the real broker and Redis.

Repros of the hostile-input issue:

1. customer ``dg-x`` then customer ``dg-x:agg``: the second id named the first one's aggregate
   hash, the batch script failed with WRONGTYPE, and the worker paused for good, taking it for
   a Redis outage. Now both are customers like any other, scored;
2. an event dated 9999-12-31: it pruned the windows of its customer and terminal to itself.
   Now it is a dead letter (further ahead of its record's timestamp than
   ``FRAUDSCORE_MAX_EVENT_AHEAD_S``), and nothing it touches is pruned;
3. a key of another type where a customer's events go (left by an older key layout, or by
   hand): that customer's events are dead letters (stage ``store``), every other event of their
   batches is scored, and the worker never pauses;
4. an event id used again by an event with other content (another amount): it passed silently
   and got the first event's features. Now it is a dead letter (stage ``duplicate``) and the
   first event's windows and score stand.

Every other event is scored exactly once and the worker exits 0 on SIGTERM.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import redis

from tests.faults.harness import Scenario
from tests.faults.readback import TopicTail, audit, finish, read_topic
from tests.faults.streams import Stream, produce

pytestmark = pytest.mark.faults


def renamed(template: bytes, event_id: str, **changes: str) -> bytes:
    doc = json.loads(template)
    doc.update(event_id=event_id, **changes)
    return json.dumps(doc).encode()


def test_ids_that_spell_keys_a_far_future_date_and_a_wrong_key_type_never_stop_the_worker(
    scenario: Callable[..., Scenario], fault_stream: Stream, figures: Callable[..., None]
) -> None:
    sc = scenario(batch_max_events=100)
    good = fault_stream.head(2000).transactions()
    template = good[0][1]
    legacy = json.loads(good[1500][1])["customer_id"]  # its events meet a hash: store refusals
    redis.Redis.from_url(sc.redis_url).hset(f"{sc.name}:c:{legacy}", "n1", 1)
    colliding = [
        (b"dg-x", renamed(template, "dg-1", customer_id="dg-x")),
        (b"dg-x:agg", renamed(template, "dg-2", customer_id="dg-x:agg")),
        (b"dg-x", renamed(template, "dg-3", customer_id="dg-x")),
    ]
    far = renamed(template, "far-1", event_time="9999-12-31T00:00:00Z")
    first = json.loads(good[10][1])
    assert first["customer_id"] != legacy
    reused = (good[10][0], renamed(good[10][1], first["event_id"], amount=first["amount"] + 1))
    items = [*good[:1000], *colliding, (b"far", far), reused, *good[1000:]]
    produce(sc.kafka, sc.tx, items)
    refused = {json.loads(v)["event_id"] for _, v in good if json.loads(v)["customer_id"] == legacy}
    ids = {json.loads(v)["event_id"] for _, v in good} - refused | {"dg-1", "dg-2", "dg-3"}
    scores = TopicTail(sc.kafka, sc.topic("scores"))
    try:
        worker = sc.worker()
        codes = finish(sc, scores, ids, [worker], 120)
        result = audit(ids, scores.sync())
    finally:
        scores.close()
    dead = read_topic(sc.kafka, sc.topic("dlq"))
    stage = {json.loads(d.value or b"{}").get("event_id"): dict(d.headers) for d in dead}
    log = worker.log()
    figures(
        events=len(ids),
        missing=len(result.missing),
        duplicates=result.duplicates,
        dead_letters=len(dead),
        store_refusals=sum(h.get("stage") == b"store" for h in stage.values()),
        reused_ids=sum(h.get("stage") == b"duplicate" for h in stage.values()),
        redis_pauses=log.count("Redis unavailable"),
    )
    assert codes == [0] and "Traceback" not in log, worker.tail()
    assert not result.missing and result.duplicates == 0 and not result.unexpected
    assert stage["far-1"]["stage"] == b"validate"
    assert b"ahead of the record's timestamp" in stage["far-1"]["reason"]
    assert stage[first["event_id"]]["stage"] == b"duplicate"
    assert refused and set(stage) == refused | {"far-1", first["event_id"]}
    assert all(stage[e]["stage"] == b"store" for e in refused)
    assert "Redis unavailable" not in log, "a store refusal was taken for an outage"
