"""Two workers in one consumer group (docs/scaling.md): partitions spread, features unchanged,
on one Redis and on a Redis Cluster with the feature keys spread over its shards.

Both workers join before any transaction exists, so the four partitions are split between them
from the start. The labels are all on their topic first (each worker applies every label before
each batch), then the stream is produced while both run. Customer windows need only their own
partition (the topic is keyed by customer); terminal windows gather events from every partition,
up to the label delay before the event, and stay right because each batch's Lua script is
atomic and the event-time alignment keeps partitions within a day of each other. The check: the
features of every event (sample rate 1) equal the offline computation of the training code.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from features.offline import compute_features
from features.registry import FEATURE_NAMES
from simulator.events import to_label
from simulator.produce import produce_stream
from tests.e2e.helpers import committed_at_end, e2e_settings, read_all, running_worker
from tests.integration.redis_cluster import redis_cluster_fixture  # noqa: F401  (a fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def partitions_per_member(kafka: str, group: str, topic: str) -> list[int]:
    admin = AdminClient({"bootstrap.servers": kafka})
    desc = admin.describe_consumer_groups([group])[group].result(timeout=10)
    return [sum(tp.topic == topic for tp in m.assignment.topic_partitions) for m in desc.members]


@pytest.mark.parametrize("store", ["one redis", "cluster spread"])
def test_two_workers_share_the_partitions_and_features_match_offline(
    kafka_bootstrap: str,
    redis_url: str,
    unique_name: str,
    e2e_dataset: pd.DataFrame,
    e2e_model_dir: Path,
    store: str,
    request: pytest.FixtureRequest,
) -> None:
    """``cluster spread``: the same on a three-node Redis Cluster with the feature keys spread
    over 12 slots (four per shard, docs/scaling.md): two workers, each batch split per slot."""
    one = e2e_settings(
        kafka_bootstrap, redis_url, unique_name, e2e_model_dir, sample_rate=1.0, batch_max_events=50
    )
    if store == "cluster spread":
        ports = request.getfixturevalue("redis_cluster")
        one = one.model_copy(
            update={
                "redis_url": f"redis://127.0.0.1:{ports[1]}/0",
                "redis_cluster": True,
                "redis_key_prefix": "{" + unique_name + "}",
                "redis_spread_slots": 12,
            }
        )
    two = one.model_copy(update={"worker_id": f"{unique_name}-w2"})
    df = e2e_dataset
    prefix = f"{unique_name}-"

    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    for row in df[df["TX_FRAUD"] == 1].to_dict("records"):
        label = to_label(row, prefix)
        producer.produce(one.topic_labels, label.model_dump_json(), label.terminal_id)
    assert producer.flush(30) == 0

    with running_worker(one, wait_s=0) as first, running_worker(two, wait_s=0) as second:
        wait_for(
            lambda: (
                sorted(partitions_per_member(kafka_bootstrap, one.group_id, one.topic_transactions))
                == [2, 2]
            ),
            90,
            "both workers to own two partitions",
        )
        stats = produce_stream(df, one, id_prefix=prefix, with_labels=False, progress=False)
        wait_for(
            lambda: committed_at_end(kafka_bootstrap, one.group_id, one.topic_transactions),
            240,
            "the group to commit the whole stream",
        )
    consumed = (first["stats"].consumed, second["stats"].consumed)
    assert min(consumed) > 0 and sum(consumed) >= stats.transactions, consumed

    samples = [json.loads(v) for _, v, _ in read_all(kafka_bootstrap, one.topic_samples) if v]
    by_event = {x["event_id"]: x["features"] for x in samples}  # a redelivery repeats features
    online = pd.DataFrame.from_dict(by_event, orient="index")[list(FEATURE_NAMES)]
    offline = compute_features(df)
    offline.index = [f"{prefix}{i}" for i in df["TRANSACTION_ID"]]
    assert len(online) == len(offline) == stats.transactions
    diff = np.abs(online.loc[offline.index].to_numpy() - offline.to_numpy())
    worst = {name: float(diff[:, j].max()) for j, name in enumerate(FEATURE_NAMES)}
    assert all(v <= 1e-9 for v in worst.values()), f"two workers != offline: {worst}"
    assert offline["terminal_tx_count_30d"].max() > 0 and offline["terminal_risk_30d"].max() > 0
