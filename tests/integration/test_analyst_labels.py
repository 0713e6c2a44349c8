"""``fraudscore label`` changes the terminal-risk feature the next event at that terminal gets,
once the label delay has passed (real Kafka, real Redis, the real worker loop).

Terminal windows cover ``(t - 7 d - w, t - 7 d]`` (features/registry.py): a transaction A at
terminal T at t0 counts for T's events from t0 + 7 d on. So: A at T and D at U at t0, worker;
label A fraud; B at T and C at U at t0 + 8 d (and E at T at t0 + 6 d, still inside the delay),
worker; label A legit; B2 at T at t0 + 8 d + 1 h, worker. Every event's features are on the
samples topic (sample_rate=1.0).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import Producer
from typer.testing import CliRunner

from analyst import cli
from core.messages import Alert, LabelEvent, Reason, Sample, TransactionEvent
from core.settings import Settings
from models import registry
from models.protocol import fold_starts
from models.train import train_model
from simulator.config import SimulationConfig
from simulator.generate import generate
from tests.e2e.helpers import e2e_settings, read_all, running_worker

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]
T0 = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry with one promoted bundle (the e2e tests' small simulated dataset)."""
    data = generate(SimulationConfig(n_customers=150, n_terminals=300, n_days=42, seed=3))
    root = tmp_path_factory.mktemp("analyst-models")
    result = train_model(data, train_start=fold_starts(data, 1)[0], budget_per_day=3)
    registry.add_bundle(root, result, [result], promote_it=True)
    return root


def send(s: Settings, *events: TransactionEvent) -> None:
    producer = Producer(s.kafka_common())
    for ev in events:
        producer.produce(s.topic_transactions, ev.model_dump_json().encode(), ev.customer_id)
    assert producer.flush(30) == 0


def score(s: Settings, *events: TransactionEvent) -> None:
    """Produce the events and run the real worker until it has consumed them."""
    send(s, *events)
    with running_worker(s, max_events=len(events), idle_timeout_s=60) as result:
        pass
    assert result["stats"].consumed == len(events)


def label(s: Settings, *args: str) -> str:
    env = {
        "FRAUDSCORE_KAFKA_BOOTSTRAP_SERVERS": s.kafka_bootstrap_servers,
        "FRAUDSCORE_TOPIC_LABELS": s.topic_labels,
    }
    result = CliRunner().invoke(cli.app, ["label", *args], env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def features(s: Settings) -> dict[str, dict[str, float]]:
    samples = [
        Sample.model_validate_json(v or b"")
        for _, v, _ in read_all(s.kafka_bootstrap_servers, s.topic_samples)
    ]
    return {smp.event_id: smp.features for smp in samples}


def test_label_changes_terminal_risk_after_the_label_delay(
    kafka_bootstrap: str, redis_url: str, unique_name: str, model_dir: Path, tmp_path: Path
) -> None:
    # Generous Redis budgets: this test is about label semantics, not latency on a busy machine.
    s = e2e_settings(
        kafka_bootstrap,
        redis_url,
        unique_name,
        model_dir,
        sample_rate=1.0,
        redis_socket_timeout_ms=1000,
        redis_connect_timeout_ms=1000,
    )
    term, other = f"{unique_name}-T", f"{unique_name}-U"

    def tx(name: str, terminal: str, when: datetime) -> TransactionEvent:
        return TransactionEvent(
            event_id=f"{unique_name}-{name}",
            event_time=when,
            customer_id=f"{unique_name}-c{name}",
            terminal_id=terminal,
            amount=42.0,
        )

    a, d = tx("A", term, T0), tx("D", other, T0)
    score(s, a, d)

    where = ["--customer", a.customer_id, "--terminal", term, "--event-time", T0.isoformat()]
    out = label(s, a.event_id, "--fraud", *where)
    assert f"{a.event_id} labelled FRAUD (analyst)" in out

    e = tx("E", term, T0 + 6 * DAY)  # still inside the label delay of A
    b, c = tx("B", term, T0 + 8 * DAY), tx("C", other, T0 + 8 * DAY)
    score(s, e, b, c)

    saved = tmp_path / "alert.json"
    saved.write_text(alert_for(a).model_dump_json())
    out = label(s, "--from-alert", str(saved), "--legit")
    assert f"{a.event_id} labelled legit (analyst)" in out

    b2 = tx("B2", term, T0 + 8 * DAY + timedelta(hours=1))
    score(s, b2)

    f = features(s)
    assert set(f) == {ev.event_id for ev in (a, d, b, c, e, b2)}
    # Before the label delay has passed, A is not in T's windows at all.
    assert f[e.event_id]["terminal_tx_count_30d"] == 0.0
    assert f[e.event_id]["terminal_risk_30d"] == 0.0
    # B, 8 days later at T: A (labelled fraud) is the one event of T's 7- and 30-day windows.
    assert f[b.event_id]["terminal_tx_count_7d"] == 1.0
    assert f[b.event_id]["terminal_risk_7d"] == 1.0
    assert f[b.event_id]["terminal_risk_30d"] == 1.0
    assert f[b.event_id]["terminal_risk_1d"] == 0.0  # (t0, t0 + 1 d] holds no event of T
    # C, same time at U: one unlabelled event in its windows, risk 0.
    assert f[c.event_id]["terminal_tx_count_7d"] == 1.0
    assert f[c.event_id]["terminal_risk_7d"] == 0.0
    assert f[c.event_id]["terminal_risk_30d"] == 0.0
    # B2 after the legit label: A still counts as an event of T, no longer as a fraud.
    assert f[b2.event_id]["terminal_tx_count_7d"] == 1.0
    assert f[b2.event_id]["terminal_risk_7d"] == 0.0
    assert f[b2.event_id]["terminal_risk_30d"] == 0.0

    labels = read_all(kafka_bootstrap, s.topic_labels)
    assert [key for key, _, _ in labels] == [term.encode(), term.encode()]
    sent = [LabelEvent.model_validate_json(v or b"") for _, v, _ in labels]
    assert [(x.event_id, x.is_fraud, x.source) for x in sent] == [
        (a.event_id, True, "analyst"),
        (a.event_id, False, "analyst"),
    ]


def alert_for(ev: TransactionEvent) -> Alert:
    """An alert as ``fraudscore alerts tail --json`` would have saved it for ``ev``."""
    reason = Reason(feature="amount", value=ev.amount, contribution=1.0, text="amount is 42.00")
    return Alert(
        alert_id="al-test",
        event_id=ev.event_id,
        event_time=ev.event_time,
        customer_id=ev.customer_id,
        terminal_id=ev.terminal_id,
        amount=ev.amount,
        currency=ev.currency,
        score=0.9,
        threshold=0.5,
        tier="review",
        model_version="v-test",
        reasons=(reason,),
    )
