"""End to end on the real broker and redis-server: events in, alerts, scores and dead letters out.

Produces a labelled simulated stream plus malformed records, runs the real worker loop until the
input is drained, and checks every output topic against the input by set difference.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from confluent_kafka import Producer

from core.pan import find_pans
from simulator.produce import produce_stream
from tests.e2e.helpers import committed_at_end, e2e_settings, read_all, running_worker

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

MALFORMED: list[bytes] = [
    b"{not json",
    b"\xff\xfe\xfa",
    json.dumps({"event_id": "bad-1", "customer_id": "4111111111111111"}).encode(),
    json.dumps(
        {
            "event_id": "bad-2",
            "event_time": "2018-05-01T00:00:00Z",
            "customer_id": "c1",
            "terminal_id": "t1",
            "amount": "12.00",
        }
    ).encode(),
    b"[" * 2000 + b"]" * 2000,
]


def test_stream_is_scored_alerted_and_dead_lettered(
    kafka_bootstrap: str,
    redis_url: str,
    unique_name: str,
    e2e_dataset: pd.DataFrame,
    e2e_model_dir: Path,
) -> None:
    s = e2e_settings(kafka_bootstrap, redis_url, unique_name, e2e_model_dir, sample_rate=0.1)
    df = e2e_dataset
    stats = produce_stream(df, s, id_prefix=f"{unique_name}-", progress=False)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for value in MALFORMED:
        producer.produce(s.topic_transactions, value, key=b"bad")
    assert producer.flush(30) == 0

    total = stats.transactions + len(MALFORMED)
    with running_worker(s, max_events=total, idle_timeout_s=30) as result:
        pass
    assert result["stats"].consumed == total

    scores = [json.loads(v) for _, v, _ in read_all(kafka_bootstrap, s.topic_scores) if v]
    alerts = [json.loads(v) for _, v, _ in read_all(kafka_bootstrap, s.topic_alerts) if v]
    dead = read_all(kafka_bootstrap, s.topic_dlq)

    produced_ids = {f"{unique_name}-{i}" for i in df["TRANSACTION_ID"]}
    scored_ids = [r["event_id"] for r in scores]
    assert set(scored_ids) == produced_ids, "every good event has a score record"
    assert len(scored_ids) == len(produced_ids), "and exactly one"

    threshold = alerts[0]["threshold"] if alerts else None
    assert alerts, "the simulated frauds raise at least one alert"
    expected = {r["event_id"] for r in scores if r["score"] >= threshold}
    assert (
        {a["event_id"] for a in alerts}
        == expected
        == {r["event_id"] for r in scores if r["alerted"]}
    )
    assert all(a["reasons"] and a["reasons"][0]["text"] for a in alerts)
    assert len({a["alert_id"] for a in alerts}) == len(alerts)

    assert len(dead) == len(MALFORMED), "every malformed record is dead-lettered once"
    for _, value, headers in dead:
        h = dict(headers)
        assert h["reason"] and h["stage"] in (b"decode", b"validate")
        assert h["origin_topic"].decode() == s.topic_transactions
        assert not find_pans((value or b"").decode("latin-1"))

    assert committed_at_end(kafka_bootstrap, s.group_id, s.topic_transactions)
    for topic in (s.topic_scores, s.topic_alerts, s.topic_samples):
        for key, value, _ in read_all(kafka_bootstrap, topic):
            assert not find_pans((key or b"").decode()), f"PAN-like key on {topic}"
            assert not [t for t in string_leaves(json.loads(value or b"{}")) if find_pans(t)]


def string_leaves(obj: object) -> list[str]:
    """Every string (keys included) in a decoded JSON value: where a card number could hide.

    Numbers are left out on purpose: a float such as 0.03323263236791982 has a Luhn-valid digit
    run, and what we compute is not a card number; input numbers never reach an output.
    """
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for k, v in obj.items() for s in [k, *string_leaves(v)]]
    if isinstance(obj, list):
        return [s for v in obj for s in string_leaves(v)]
    return []
