"""The state audit finds no skew on a clean run and finds a planted one (real Kafka and Redis).

A worker scores a stream with every event sampled; ``fraudscore features verify`` recomputes the
sampled events' features from the topics with the training code: no mismatch. Then one
customer's windows are deleted from Redis behind the worker's back (a store that lost part of
its state without losing its history mark, which only an audit can see), the worker scores more
of the stream, and the audit finds exactly that customer's later events, on customer features.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import redis
from typer.testing import CliRunner

from cli.main import app
from core.settings import Settings
from monitoring.state_audit import audit
from simulator.produce import produce_stream
from tests.e2e.helpers import e2e_settings, running_worker

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

FIRST, THEN = 2000, 1000


def _verify(s: Settings, *args: str) -> tuple[int, str]:
    env = {
        "FRAUDSCORE_KAFKA_BOOTSTRAP_SERVERS": s.kafka_bootstrap_servers,
        "FRAUDSCORE_TOPIC_TRANSACTIONS": s.topic_transactions,
        "FRAUDSCORE_TOPIC_LABELS": s.topic_labels,
        "FRAUDSCORE_TOPIC_SAMPLES": s.topic_samples,
    }
    done = CliRunner().invoke(app, ["features", "verify", *args], env=env)
    return done.exit_code, done.output


def test_the_audit_is_clean_on_a_clean_run_and_finds_a_planted_skew(
    kafka_bootstrap: str,
    redis_url: str,
    unique_name: str,
    e2e_dataset: pd.DataFrame,
    e2e_model_dir: Path,
) -> None:
    # small batches, as in the parity test: this stream is sparse (~260 events a day), and a
    # backlog read in batches of 500 spans more than the 7-day label delay per partition, so
    # terminal counts would depend on fetch order (the audit finds that too; see the ops doc)
    s = e2e_settings(
        kafka_bootstrap, redis_url, unique_name, e2e_model_dir, sample_rate=1.0, batch_max_events=50
    )
    prefix = f"{unique_name}-"
    first, then = e2e_dataset.iloc[:FIRST], e2e_dataset.iloc[FIRST : FIRST + THEN]
    produce_stream(first, s, id_prefix=prefix, progress=False)
    with running_worker(s, max_events=FIRST, idle_timeout_s=60):
        pass

    clean = audit(s, sample=300, seed=1)
    assert (clean.served, clean.eligible, clean.checked) == (FIRST, FIRST, 300)
    assert clean.clean, clean.mismatches[:5]
    code, out = _verify(s, "--sample", "200")
    assert code == 0, out
    assert "checked 200 served events" in out and ": 0 with features other" in out

    # the customer with the most events still to come loses its windows, and nothing else
    victim = int(then["CUSTOMER_ID"].value_counts().idxmax())
    r = redis.Redis.from_url(redis_url)
    assert r.delete(f"{s.redis_key_prefix}:c:c{victim}", f"{s.redis_key_prefix}:ca:c{victim}") == 2
    produce_stream(then, s, id_prefix=prefix, progress=False)
    with running_worker(s, max_events=THEN, idle_timeout_s=60):
        pass

    skewed = audit(s, sample=FIRST + THEN)
    customer_of = {
        f"{prefix}{t}": int(c) for t, c in zip(df_ids(e2e_dataset), cust(e2e_dataset), strict=True)
    }
    hit = {m.event_id for m in skewed.mismatches}
    later_of_victim = {
        f"{prefix}{t}" for t, c in zip(df_ids(then), cust(then), strict=True) if int(c) == victim
    }
    assert skewed.checked == FIRST + THEN
    assert hit, "the planted skew was not found"
    outside = [m for m in skewed.mismatches if customer_of[m.event_id] != victim]
    assert not outside, f"mismatches outside the planted customer {victim}: {outside[:6]}"
    assert hit <= later_of_victim
    assert skewed.by_feature and all("customer" in f for f in skewed.by_feature), skewed.by_feature
    code, out = _verify(s, "--sample", str(FIRST + THEN), "--show", "3")
    assert code == 1, out
    assert f": {skewed.mismatched_events} with features other" in out
    assert "mismatches by feature: " in out and "terminal_" not in out.split("by feature:")[1]
    print(
        f"state audit: clean run 0 of {clean.checked} mismatched; planted skew: "
        f"{skewed.mismatched_events} of {len(later_of_victim)} later events of customer {victim} "
        f"found, none elsewhere ({skewed.by_feature})"
    )


def df_ids(df: pd.DataFrame) -> list[int]:
    return [int(t) for t in df["TRANSACTION_ID"]]


def cust(df: pd.DataFrame) -> list[int]:
    return [int(c) for c in df["CUSTOMER_ID"]]
