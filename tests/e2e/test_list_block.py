"""A block-list entry added with ``fraudscore lists add`` while a worker runs (real Kafka and
Redis): that customer's next events are blocked, named by the list, and nobody else's decision
changes; no event is lost or scored twice."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app
from simulator.produce import produce_stream
from tests.e2e.helpers import e2e_settings, read_all, running_worker, wait_for_records

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

LISTED = ["list:block:customer_id"]


def test_a_block_list_entry_added_by_the_cli_blocks_that_customers_next_event(
    kafka_bootstrap: str,
    redis_url: str,
    unique_name: str,
    e2e_dataset: pd.DataFrame,
    e2e_model_dir: Path,
) -> None:
    s = e2e_settings(
        kafka_bootstrap, redis_url, unique_name, e2e_model_dir, list_check_interval_s=0.2
    )
    first, second = e2e_dataset.iloc[:1500], e2e_dataset.iloc[1500:3000]
    customer = f"c{int(second['CUSTOMER_ID'].value_counts().index[0])}"  # the busiest one
    prefix = f"{unique_name}-"
    env = {
        "FRAUDSCORE_REDIS_URL": redis_url,
        "FRAUDSCORE_REDIS_KEY_PREFIX": unique_name,
        "FRAUDSCORE_REDIS_SOCKET_TIMEOUT_MS": "1000",
        "FRAUDSCORE_LIST_CHECK_INTERVAL_S": "0.2",
    }
    with running_worker(s, max_events=len(first) + len(second), idle_timeout_s=60):
        produce_stream(first, s, id_prefix=prefix, progress=False, with_labels=False)
        wait_for_records(kafka_bootstrap, s.topic_scores, len(first))
        args = ["lists", "add", "--kind", "block", "--field", "customer_id", customer]
        added = CliRunner().invoke(
            app, [*args, "--reason", "confirmed fraud", "--author", "e2e"], env=env
        )
        assert added.exit_code == 0 and "workers follow within 0.2 s" in added.output, added.output
        time.sleep(1.0)  # five list checks
        produce_stream(second, s, id_prefix=prefix, progress=False, with_labels=False)

    raw = read_all(kafka_bootstrap, s.topic_scores)
    scores = {r["event_id"]: r for r in (json.loads(v or b"{}") for _, v, _ in raw)}
    wanted = {f"{prefix}{i}" for i in e2e_dataset["TRANSACTION_ID"].iloc[:3000]}
    assert set(scores) == wanted, "every event scored"
    assert len(raw) == len(wanted), f"{len(raw) - len(wanted)} events scored twice"
    before = [scores[f"{prefix}{i}"] for i in first["TRANSACTION_ID"]]
    after = [scores[f"{prefix}{i}"] for i in second["TRANSACTION_ID"]]
    assert all(LISTED[0] not in r["rules"] for r in before)
    theirs = [r for r in after if r["customer_id"] == customer]
    assert len(theirs) >= 3, "the customer has events after the entry"
    for r in theirs:
        assert r["decision"] == "block" and r["rules"] == LISTED and r["alerted"], r
    others = [r for r in after if r["customer_id"] != customer]
    assert all(r["rules"] == [] for r in others), "nobody else is listed"
    alerts = [json.loads(v or b"{}") for _, v, _ in read_all(kafka_bootstrap, s.topic_alerts)]
    listed = {a["event_id"]: a for a in alerts if a["rules"] == LISTED}
    assert set(listed) == {r["event_id"] for r in theirs}
    assert all(a["tier"] == "block" and a["policy_version"] is None for a in listed.values())
    print(
        f"block list: {len(before) + len(after)} events; {customer} added after {len(before)}; "
        f"its {len(theirs)} later events all blocked by the list, 0 others listed, 0 missing, "
        "0 duplicates"
    )
