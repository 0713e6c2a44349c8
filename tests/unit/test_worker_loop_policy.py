"""The consume loop with a policy in force: rules decide on top of the model, every output
says which policy and rules, a policy changed between batches applies from the next batch, and
a rule failing on events is counted and logged once, never stopping the worker."""

from __future__ import annotations

import pytest

from core.settings import DeliveryMode
from decision.policy import parse_policy
from decision.rules import Ruleset
from tests.unit.looprig import MODES, rig, txn
from worker.guard import RuleFailureLog

# FakeModel: score = amount / 100; review at 0.5, block at 0.9
BLOCK_SMALL = Ruleset(
    parse_policy(
        """name: block-small
rules:
  - id: tiny
    description: d
    action: block
    when: amount < 2
  - id: ratio
    description: fails where the customer has no 1-day average
    action: review
    when: amount / (customer_avg_amount_1d - customer_avg_amount_1d) > 1
"""
    ),
    "p-aaa",
)


@pytest.mark.parametrize("mode", MODES)
def test_the_policy_in_force_decides_each_batch(
    mode: DeliveryMode, caplog: pytest.LogCaptureFixture
) -> None:
    in_force: list[Ruleset | None] = [None]
    amounts = [1.0, 10.0, 60.0, 1.5, 1.0, 10.0, 60.0, 1.5]  # two batches of four
    r = rig(mode, {0: [txn(i, a) for i, a in enumerate(amounts)]}, policy=lambda: in_force[0])

    def promote_after_first_batch() -> None:
        if r.worker.stats.batches == 1:
            in_force[0] = BLOCK_SMALL

    r.consumer.on_consume = promote_after_first_batch

    stats = r.run()

    scores = sorted(r.scores(), key=lambda s: s["offset"])
    before, after = ["allow", "allow", "review", "allow"], ["block", "allow", "review", "block"]
    assert [s["decision"] for s in scores] == before + after
    assert [s["policy_version"] for s in scores] == [None] * 4 + ["p-aaa"] * 4
    assert [s["rules"] for s in scores][4:] == [["tiny"], [], [], ["tiny"]]
    alerts = {a["event_id"]: a for a in r.alerts()}
    assert alerts["evt-4"]["tier"] == "block" and alerts["evt-4"]["rules"] == ["tiny"]
    assert alerts["evt-4"]["policy_version"] == "p-aaa" and alerts["evt-4"]["reasons"]
    assert set(alerts) == {"evt-2", "evt-4", "evt-6", "evt-7"}
    assert stats.consumed == 8 and r.scored() == r.every_record()
    assert r.metric("fraudscore_decisions_total", action="block") == 2
    assert r.metric("fraudscore_decisions_total", action="review") == 2
    assert r.metric("fraudscore_decisions_total", action="allow") == 4
    # the ratio rule divides by zero on every event of the second batch: counted, logged once
    assert r.metric("fraudscore_rule_failures_total", rule="ratio") == 4
    assert caplog.text.count("rule ratio of policy p-aaa could not be evaluated on 4") == 1


def test_a_failing_rule_is_logged_once_a_minute_with_the_count_since(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    failures = RuleFailureLog(every_s=60.0, clock=lambda: now[0])
    failures.observe({"ratio": 3}, "p-1")
    now[0] = 30.0
    failures.observe({"ratio": 2, "other": 1}, "p-1")
    now[0] = 61.0
    failures.observe({"ratio": 4}, "p-1")
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split(" could")[0] for line in lines] == [
        "rule ratio of policy p-1",
        "rule other of policy p-1",
        "rule ratio of policy p-1",
    ]
    assert "on 3 event(s)" in lines[0] and "on 6 event(s)" in lines[2]  # 2 held back, then 4
