"""A feature store rebuilt from the topics equals the one the worker built (real Kafka, Redis).

The issue's repro: Redis restarted empty, and for a month windows were short. Here a worker
scores a stream (prefix A); ``rebuild`` replays the same topics into an empty namespace (B), and
again into a third (C) with an interruption after its first batch and a resume. New events
enriched against each then get exactly the same features: the rebuilt state is the state.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app
from core.reading import read_to_end, reader
from core.settings import Settings
from decision.features import parse_labels
from decision.rebuild import rebuild
from features.online import History, StoreEvent
from features.open import open_store
from simulator.produce import produce_stream
from tests.e2e.helpers import e2e_settings, read_all, running_worker
from worker.metrics import Health

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

N = 3000


class Interrupted(Exception):
    pass


def _probes(df: pd.DataFrame) -> list[StoreEvent]:
    """Later events of the same customers and terminals, with ids nobody has used."""
    return [
        StoreEvent(
            f"probe-{i}",
            f"c{int(r.CUSTOMER_ID)}",
            f"t{int(r.TERMINAL_ID)}",
            int(pd.Timestamp(r.TX_DATETIME, tz="UTC").timestamp() * 1000),
            round(float(r.TX_AMOUNT) * 100),
        )
        for i, r in enumerate(df.itertuples())
    ]


def test_a_store_rebuilt_from_the_topics_gives_the_features_the_worker_built(
    kafka_bootstrap: str,
    redis_url: str,
    unique_name: str,
    e2e_dataset: pd.DataFrame,
    e2e_model_dir: Path,
) -> None:
    s = e2e_settings(kafka_bootstrap, redis_url, unique_name, e2e_model_dir)
    stream, later = e2e_dataset.iloc[:N], e2e_dataset.iloc[N : N + 400]
    stats = produce_stream(stream, s, id_prefix=f"{unique_name}-", progress=False)
    with running_worker(s, max_events=stats.transactions, idle_timeout_s=60):
        pass
    worker_store = open_store(s)
    # the worker reads labels beside the stream and may stop before the last of them: give it
    # every label, as it would have had by running on (labels are idempotent per event)
    labels = reader(s, f"{unique_name}-labels-check")
    try:
        worker_store.apply_labels(
            parse_labels([m.value() for m in read_to_end(labels, s.topic_labels)])
        )
    finally:
        labels.close()

    def namespace(suffix: str) -> Settings:
        return s.model_copy(update={"redis_key_prefix": f"{unique_name}-{suffix}"})

    assert worker_store.history() == History(0, "first start"), "a new group on a whole topic"
    rebuilt = rebuild(namespace("b"), open_store(namespace("b")), since_ms=0)
    assert rebuilt.transactions == stats.transactions and not rebuilt.resumed
    assert rebuilt.labels == stats.labels
    assert rebuilt.history_since_ms == 0, "replayed from offset 0: the store holds all history"

    def stop_after_first_batch(stage: str, done: int, _total: int) -> None:
        if stage == "transactions" and done > 0:
            raise Interrupted

    resumed_store = open_store(namespace("c"))
    with pytest.raises(Interrupted):
        rebuild(namespace("c"), resumed_store, since_ms=0, progress=stop_after_first_batch)
    second = rebuild(namespace("c"), resumed_store, since_ms=0)
    assert second.resumed and 0 < second.transactions < stats.transactions
    assert second.history_since_ms == 0, "the resumed rebuild knows its first run's start"

    probes = _probes(later)
    expected = worker_store.enrich(probes)
    assert expected[:, 0].sum() > len(probes), "the probes meet history (else nothing is shown)"
    for name, store in (("rebuilt", open_store(namespace("b"))), ("resumed", resumed_store)):
        got = store.enrich(probes)
        differ = int((~np.isclose(got, expected)).any(axis=1).sum())
        assert differ == 0, f"{name}: {differ} of {len(probes)} probes got other features"
    env = {
        "FRAUDSCORE_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "FRAUDSCORE_REDIS_URL": redis_url,
        "FRAUDSCORE_REDIS_KEY_PREFIX": f"{unique_name}-d",
        "FRAUDSCORE_TOPIC_TRANSACTIONS": s.topic_transactions,
        "FRAUDSCORE_TOPIC_LABELS": s.topic_labels,
    }
    done = CliRunner().invoke(app, ["features", "rebuild", "--since", "1970-01-02"], env=env)
    assert done.exit_code == 0, done.output
    assert f"{stats.labels:,} labels and {stats.transactions:,} transactions in" in done.output
    assert "the store holds every event the topics ever held" in done.output
    assert np.isclose(open_store(namespace("d")).enrich(probes), expected).all()
    print(
        f"rebuild: {rebuilt.transactions:,} transactions and {rebuilt.labels:,} labels in "
        f"{rebuilt.seconds:.1f} s ({rebuilt.transactions / rebuilt.seconds:,.0f}/s); "
        f"{len(probes)} probe events, 0 feature mismatches against the worker's store; "
        f"resumed after an interruption: {second.transactions:,} left, 0 mismatches"
    )


def test_a_worker_told_to_wait_scores_nothing_until_the_rebuild(
    kafka_bootstrap: str,
    redis_url: str,
    unique_name: str,
    e2e_dataset: pd.DataFrame,
    e2e_model_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """FRAUDSCORE_WAIT_FOR_REBUILD: its group has consumed, the store is empty; the worker
    waits, live and not ready, and scores the new events on whole windows once rebuilt."""
    s = e2e_settings(kafka_bootstrap, redis_url, unique_name, e2e_model_dir)
    first, later = e2e_dataset.iloc[:300], e2e_dataset.iloc[300:400]
    produce_stream(first, s, id_prefix=f"{unique_name}-", progress=False)
    with running_worker(s, max_events=len(first), idle_timeout_s=60):
        pass
    emptied = s.model_copy(
        update={"redis_key_prefix": f"{unique_name}-e", "wait_for_rebuild": True}
    )
    produce_stream(later, s, id_prefix=f"{unique_name}-", progress=False)
    health = Health()
    caplog.set_level(logging.INFO, logger="decision.history")
    with running_worker(emptied, max_events=len(later), idle_timeout_s=60, health=health):
        time.sleep(5.0)  # long enough to have scored 100 events had it not waited
        assert "waiting for `fraudscore features rebuild`" in caplog.text
        assert len(read_all(kafka_bootstrap, s.topic_scores)) == len(first), "scored unrebuilt"
        assert health.live() and not health.ready()
        stats = rebuild(emptied, open_store(emptied))
        assert stats.history_since_ms == 0
    scores = [json.loads(v or b"{}") for _, v, _ in read_all(kafka_bootstrap, s.topic_scores)]
    assert len(scores) == len(first) + len(later)
    assert not any(r["partial_history"] for r in scores)
