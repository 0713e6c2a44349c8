"""A policy promoted while a worker runs (real Kafka and Redis): the next events are decided by
it within a model-check interval, a shadow rule is reported and never acts, and no event is lost
or scored twice."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest

from decision import policy_store
from models import registry
from simulator.produce import produce_stream
from tests.e2e.helpers import e2e_settings, read_all, running_worker, wait_for_records

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

POLICY = """name: e2e
rules:
  - id: big
    description: every payment over 150 is blocked
    action: block
    when: amount > 150
  - id: probe
    description: in shadow, never acts
    action: block
    when: amount > 60 and amount <= 150
    mode: shadow
"""


def test_a_promoted_policy_decides_the_next_events_and_its_shadow_rule_never_acts(
    kafka_bootstrap: str,
    redis_url: str,
    unique_name: str,
    e2e_dataset: pd.DataFrame,
    e2e_model_dir: Path,
    tmp_path: Path,
) -> None:
    root = tmp_path / "models"
    shutil.copytree(e2e_model_dir, root)
    s = e2e_settings(kafka_bootstrap, redis_url, unique_name, root, model_check_interval_s=0.2)
    n = len(e2e_dataset) // 2
    first, second = e2e_dataset.iloc[: n // 2], e2e_dataset.iloc[n // 2 : n]
    prefix = f"{unique_name}-"
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(POLICY)
    with running_worker(s, max_events=n, idle_timeout_s=60):
        produce_stream(first, s, id_prefix=prefix, progress=False, with_labels=False)
        wait_for_records(kafka_bootstrap, s.topic_scores, len(first))
        version = policy_store.promote(root, policy_file, reason="e2e", author="test")
        time.sleep(1.0)  # five model checks
        produce_stream(second, s, id_prefix=prefix, progress=False, with_labels=False)

    records = [json.loads(v or b"{}") for _, v, _ in read_all(kafka_bootstrap, s.topic_scores)]
    scores = {r["event_id"]: r for r in records}
    wanted = {f"{prefix}{i}" for i in e2e_dataset["TRANSACTION_ID"].iloc[:n]}
    assert set(scores) == wanted, "every event scored"
    assert len(records) == n, f"{len(records) - n} events scored twice"
    amount = {
        f"{prefix}{i}": a
        for i, a in zip(e2e_dataset["TRANSACTION_ID"], e2e_dataset["TX_AMOUNT"], strict=True)
    }
    before = [scores[f"{prefix}{i}"] for i in first["TRANSACTION_ID"]]
    after = [scores[f"{prefix}{i}"] for i in second["TRANSACTION_ID"]]
    assert all(r["policy_version"] is None for r in before)
    assert all(r["policy_version"] == version for r in after)
    for r in after:
        big = amount[r["event_id"]] > 150
        assert (r["rules"] == ["big"]) is big
        if big:
            assert r["decision"] == "block" and r["alerted"]
        probe = 60 < amount[r["event_id"]] <= 150
        assert (r["shadow_rules"] == ["probe"]) is probe
    # the shadow rule never acts: where no active rule matched, the decision is the model's tier
    bundle = registry.current_bundle(root)
    shadowed = [r for r in after if r["shadow_rules"]]
    assert shadowed, "the shadow rule matched some events"
    for r in (r for r in after if not r["rules"]):
        score = r["score"]
        model = "block" if score >= bundle.block_threshold else "review"
        assert r["decision"] == (model if score >= bundle.threshold else "allow"), r
    alerts = [json.loads(v or b"{}") for _, v, _ in read_all(kafka_bootstrap, s.topic_alerts)]
    blocked = {a["event_id"] for a in alerts if a["rules"] == ["big"]}
    assert blocked == {r["event_id"] for r in after if r["rules"] == ["big"]}
    print(
        f"policy reload: {n} events, {len(after)} after promoting {version}: "
        f"{len(blocked)} blocked by rule, {len(shadowed)} matched the shadow rule, 0 missing, "
        "0 duplicates"
    )
