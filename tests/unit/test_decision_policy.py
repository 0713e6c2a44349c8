"""The decision core with a policy: rules on top of the model's tier, on every output record."""

from __future__ import annotations

import numpy as np

from decision.core import decide
from decision.features import degraded_raw
from decision.policy import parse_policy
from decision.rules import Ruleset
from tests.unit.test_worker_pipeline import TOPICS, FakeModel, good_pairs, outputs_on, run

# FakeModel: score = amount / 100, review at 0.5, block at 0.9
POLICY = """name: p
rules:
  - id: small-but-odd
    description: an amount ending in .13 is reviewed whatever the score
    action: review
    when: amount == 20.13
  - id: trusted
    description: this customer is never blocked
    action: allow
    when: customer_id == "cust-2"
  - id: probe
    description: in shadow
    action: block
    when: amount > 50
    mode: shadow
"""


def ruleset() -> Ruleset:
    return Ruleset(parse_policy(POLICY), "pol-3")


def test_without_a_policy_the_decision_is_the_models_tier() -> None:
    out = run([10.0, 60.0, 95.0], FakeModel()).outputs
    scores = outputs_on(out, TOPICS.scores)
    assert [s["decision"] for s in scores] == ["allow", "review", "block"]
    assert all(s["policy_version"] is None and s["rules"] == [] for s in scores)
    assert all(
        a["rules"] == [] and a["policy_version"] is None for a in outputs_on(out, TOPICS.alerts)
    )


def test_rules_decide_on_top_of_the_model_and_are_on_every_record() -> None:
    model = FakeModel()
    # events 0, 1, 2 have customers cust-0, cust-1, cust-2 (event i: cust-{i % 3})
    out = run([20.13, 60.0, 95.0], model, rules=ruleset()).outputs
    scores = outputs_on(out, TOPICS.scores)
    alerts = outputs_on(out, TOPICS.alerts)
    assert [s["decision"] for s in scores] == ["review", "review", "allow"]
    assert [s["rules"] for s in scores] == [["small-but-odd"], [], ["trusted"]]
    assert [s["shadow_rules"] for s in scores] == [[], ["probe"], ["probe"]]
    assert {s["policy_version"] for s in scores} == {"pol-3"}
    assert [(a["event_id"], a["tier"], a["rules"]) for a in alerts] == [
        ("evt-0", "review", ["small-but-odd"]),
        ("evt-1", "review", []),
    ]
    assert all(a["policy_version"] == "pol-3" and a["reasons"] for a in alerts)
    # reasons for the decided rows only: the allowed block (evt-2) costs no TreeSHAP
    (rows,) = model.reason_rows
    assert np.allclose(rows[:, 0], [20.13, 60.0])


def test_a_rule_failure_is_counted_and_the_event_still_decided() -> None:
    policy = """name: p
rules:
  - id: ratio
    description: d
    action: block
    when: amount / customer_avg_amount_30d > 100
"""
    good = good_pairs([10.0, 60.0])
    events = [ev for _, ev in good]
    raw = degraded_raw(np.array([10.0, 60.0]))
    raw[:] = 0.0  # no history at all: the customer average is 0, the ratio undefined
    d = decide(events, raw, FakeModel(), top_k=2, rules=Ruleset(parse_policy(policy), "v"))
    assert d.rule_failures == {"ratio": 2}
    assert [d.action(i) for i in range(2)] == ["allow", "review"]
