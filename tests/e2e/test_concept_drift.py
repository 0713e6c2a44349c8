"""The closed loop on injected concept drift, on the real broker and redis-server.

From day ``DRIFT`` the simulator's fraudsters switch to night account takeovers, a pattern the
champion (trained before that day) has never seen. One worker scores the whole stream:

1. days [0, CUTOFF): the champion scores; labels arrive 7 days after each fraud;
2. ``retrain`` reads the topics back as of CUTOFF, trains a candidate and the gate promotes it;
   the running worker hot-reloads it;
3. days [CUTOFF, end): the retrained model scores.

Then, from the score records and labels on the topics:

- the degradation alarm, replayed in event time day by day as labels arrive, fires after the
  drift day and never before it; the real ``perf run`` monitor publishes the same alarm;
- the champion's live recall on the weeks after the drift, and the retrained model's on the
  weeks after its promotion, both printed; the retrained one is clearly higher.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from confluent_kafka import Producer

from core.messages import LabelEvent, ScoreRecord
from core.settings import Settings
from models import registry
from models.protocol import fold_starts
from models.retrain.gate import GateRule
from models.retrain.run import build_training_set, retrain
from models.retrain.source import from_topics
from models.train import train_model
from monitoring.performance.alarm import AlarmRule, bundle_expected_loader, evaluate_alarm
from monitoring.performance.run import run_performance
from monitoring.performance.table import performance_table
from monitoring.performance.types import DayPerformance, WindowPerformance
from simulator.config import SimulationConfig
from simulator.events import Outgoing, event_stream
from simulator.generate import generate
from tests.e2e.helpers import e2e_settings, read_all, running_worker

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

DRIFT, CUTOFF, DAYS = 49, 77, 105
WARMUP = 30  # days until the longest feature window is full
CFG = SimulationConfig(
    n_customers=300,
    n_terminals=600,
    n_days=DAYS,
    seed=11,
    concept_drift_day=DRIFT,
    concept_drift_per_day=3.0,
)
RULE = AlarmRule(metric="recall", days=3, margin=0.1)


def _time(rec: Outgoing) -> datetime:
    obj = json.loads(rec.value)
    return datetime.fromisoformat(obj["event_time" if rec.kind == "transaction" else "label_time"])


def _produce(s: Settings, records: list[Outgoing]) -> int:
    p = Producer({"bootstrap.servers": s.kafka_bootstrap_servers, "linger.ms": 20})
    for rec in records:
        topic = s.topic_transactions if rec.kind == "transaction" else s.topic_labels
        while True:
            try:
                p.produce(topic, rec.value, rec.key)
                break
            except BufferError:
                p.poll(0.1)
    assert p.flush(60) == 0
    return sum(1 for r in records if r.kind == "transaction")


def _wait_scored(kafka: str, s: Settings, n: int, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while len(read_all(kafka, s.topic_scores, timeout_s=10)) < n:
        assert time.monotonic() < deadline, f"fewer than {n} scores after {timeout_s} s"
        time.sleep(1)


def _values(kafka: str, topic: str) -> list[bytes | None]:
    return [v for _, v, _ in read_all(kafka, topic, timeout_s=60)]


def _recall(rows: list[DayPerformance], version: str, first: datetime, last: datetime) -> float:
    """Card-day recall of ``version`` pooled over the complete days in [first, last)."""
    days = [
        r
        for r in rows
        if r.model_version == version and r.complete and first.date() <= r.day < last.date()
    ]
    assert days, f"no complete day of {version} in {first:%F}..{last:%F}"
    recall = WindowPerformance.of(days).card_recall
    assert recall is not None
    return recall


def test_drift_alarm_retrain_and_promotion_recover_recall(
    kafka_bootstrap: str, redis_url: str, unique_name: str, tmp_path: Path
) -> None:
    kafka = kafka_bootstrap
    df = generate(CFG)
    start = pd.Timestamp(CFG.start_date, tz=UTC).to_pydatetime()
    drift_at, cutoff_at = start + timedelta(days=DRIFT), start + timedelta(days=CUTOFF)

    root = tmp_path / "models"
    before = df[df["TX_DATETIME"] < pd.Timestamp(CFG.start_date) + pd.Timedelta(days=DRIFT)]
    champ = train_model(before, train_start=fold_starts(before, 1)[0], budget_per_day=5)
    champion = registry.add_bundle(root, champ, [champ], promote_it=True).version

    s = e2e_settings(
        kafka_bootstrap,
        redis_url,
        unique_name,
        root,
        model_check_interval_s=0.2,
        reports_dir=tmp_path / "reports",
        perf_db=tmp_path / "perf.sqlite3",
        perf_alarm_metric=RULE.metric,
        perf_alarm_days=RULE.days,
        perf_alarm_margin=RULE.margin,
        perf_retention_days=120,
    )
    stream = list(event_stream(df, f"{unique_name}-"))
    phase1 = [r for r in stream if _time(r) < cutoff_at]
    phase2 = stream[len(phase1) :]
    n1, n_all = sum(r.kind == "transaction" for r in phase1), len(df)

    with running_worker(s, max_events=n_all, idle_timeout_s=120, wait_s=600):
        _produce(s, phase1)
        _wait_scored(kafka_bootstrap, s, n1)
        training = build_training_set(from_topics(s), days=CUTOFF)
        result = retrain(
            training, root, tmp_path / "retrain", rule=GateRule.from_settings(s), budget_per_day=5
        )
        assert result.action == "promote", result.decision.reasons
        retrained = result.candidate.version
        time.sleep(1.0)  # five model checks: the worker serves the retrained model
        _produce(s, phase2)

    scores = [
        ScoreRecord.model_validate_json(v or b"") for _, v, _ in read_all(kafka, s.topic_scores)
    ]
    labels = [
        LabelEvent.model_validate_json(v or b"") for _, v, _ in read_all(kafka, s.topic_labels)
    ]
    assert len({r.event_id for r in scores}) == n_all == len(scores), "each event scored once"
    versions = {r.model_version for r in scores if r.event_time >= cutoff_at + timedelta(days=1)}
    assert versions == {retrained}, "after the promotion the worker serves the retrained model"

    # 1. the alarm, replayed in event time: each day, the scores so far and the labels arrived
    expected = bundle_expected_loader(root, s.perf_budget_cards)(champion)
    assert expected is not None and expected.recall is not None
    # Redis starts empty on day 0: the 30-day windows fill during the first month, and the
    # features (hence recall) are low until then; the monitor is judged from the end of it.
    warm = start + timedelta(days=WARMUP)
    verdicts: dict[datetime, str | None] = {}
    day = warm + timedelta(days=7 + RULE.days)  # the first days that can be complete
    while day <= cutoff_at:
        rows = performance_table(
            [r for r in scores if warm <= r.event_time < day and r.model_version == champion],
            [lab for lab in labels if lab.label_time <= day],
        )
        chk = evaluate_alarm(rows, champion, RULE, expected.recall)
        verdicts[day] = chk.status
        day += timedelta(days=1)
    fired = [d for d, v in verdicts.items() if v == "degraded"]
    assert fired, f"the alarm never fired; verdicts {verdicts}"
    assert min(fired) > drift_at, f"the alarm fired on {min(fired):%F}, before the drift"
    assert any(v == "ok" for d, v in verdicts.items() if d <= drift_at), "it had a verdict before"

    # ... and the real monitor, over the same topics, publishes it
    stats = run_performance(
        s,
        expected_loader=bundle_expected_loader(root, s.perf_budget_cards),
        idle_timeout_s=10,
        eval_interval_s=1,
        group_id=f"{unique_name}-perf",
    )
    degraded = [e for e in stats.events if e.model_version == champion and e.status == "degraded"]
    assert degraded, f"perf run published no alarm for {champion}: {stats.events}"

    # 2. live recall: the champion after the drift vs the retrained model after its promotion
    rows = performance_table(scores, labels)
    old = _recall(rows, champion, drift_at, cutoff_at)
    new = _recall(rows, retrained, cutoff_at, start + timedelta(days=DAYS))
    print(
        f"\nconcept drift on day {DRIFT}: champion {champion} card-day recall {old:.3f} on days "
        f"{DRIFT}-{CUTOFF}; retrained {retrained} {new:.3f} on days {CUTOFF}-{DAYS}; alarm first "
        f"fired on day {(min(fired) - start).days}; gate: {'; '.join(result.decision.reasons)}"
    )
    assert new > old + 0.1
