"""The benchmark's rules row: its policy validates, has the size asked for, and some shadow."""

from __future__ import annotations

from benchmarks.policies import bench_policy
from decision.policy import parse_policy


def test_the_bench_policy_validates_with_the_rules_asked_for() -> None:
    policy = parse_policy(bench_policy(50))
    assert len(policy.rules) == 50 and len({r.id for r in policy.rules}) == 50
    assert sum(r.mode == "shadow" for r in policy.rules) == 5
    assert {r.action for r in policy.rules} == {"allow", "review", "block"}
    assert bench_policy(50) == bench_policy(50)  # the same rules every run
