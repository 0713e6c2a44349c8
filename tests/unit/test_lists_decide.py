"""The allow and block lists in the decision core: a block list over everything, an allow list
over the model and the rules, list ids reported before the policy's, empty lists inert."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from decision.core import Decisions, decide
from decision.features import degraded_raw
from decision.lists import match_lists
from decision.policy import parse_policy
from decision.rules import Ruleset
from features.lists import LIST_FIELDS, ListSnapshot
from tests.unit.test_worker_pipeline import TOPICS, FakeModel, good_pairs, outputs_on, run

# FakeModel: score = amount / 100, review at 0.5, block at 0.9; event i: cust-{i % 3}, term-{i % 5}
POLICY = Ruleset(
    parse_policy(
        """name: p
rules:
  - id: trusted
    description: cust-0 is never blocked by the model
    action: allow
    when: customer_id == "cust-0"
  - id: big
    description: over 40 is blocked
    action: block
    when: amount > 40
"""
    ),
    "pol-1",
)


def lists(version: int = 3, **entries: list[str]) -> ListSnapshot:
    """``block_customer_id=["cust-1"]``, ``allow_terminal_id=[...]``: the lists as given."""
    allow: dict[str, frozenset[str]] = {}
    block: dict[str, frozenset[str]] = {}
    for name, values in entries.items():
        kind, field = name.split("_", 1)
        (allow if kind == "allow" else block)[field] = frozenset(values)
    return ListSnapshot(version, allow, block)


def decided(amounts: list[float], **kw: Any) -> Decisions:
    good = good_pairs(amounts)
    raw = degraded_raw(np.array(amounts, dtype=np.float64))
    return decide([ev for _, ev in good], raw, FakeModel(), top_k=2, **kw)


def actions(d: Decisions) -> list[str]:
    return [d.action(i) for i in range(len(d))]


def test_without_a_policy_a_block_list_blocks_and_an_allow_list_allows() -> None:
    # events: cust-0 60 (review), cust-1 10 (allow), cust-2 95 (block)
    listed = lists(block_customer_id=["cust-1"], allow_customer_id=["cust-2"])
    d = decided([60.0, 10.0, 95.0], lists=listed)
    assert actions(d) == ["review", "block", "allow"]
    assert d.fired == {1: ("list:block:customer_id",), 2: ("list:allow:customer_id",)}
    assert d.list_hits == {"list:block:customer_id": 1, "list:allow:customer_id": 1}
    assert d.lists_version == 3 and d.policy_version is None
    assert sorted(d.reasons) == [0, 1]  # the listed block is explained, the allowed one is not


def test_on_the_outputs_list_ids_come_first_under_a_policy() -> None:
    # cust-0 is allowed by the policy's rule and blocked by a list: the list wins
    listed = lists(block_terminal_id=["term-0"], allow_customer_id=["cust-1"])
    out = run([50.0, 60.0, 10.0], FakeModel(), rules=POLICY, lists=listed).outputs
    scores = outputs_on(out, TOPICS.scores)
    assert [s["decision"] for s in scores] == ["block", "allow", "allow"]
    assert [s["rules"] for s in scores] == [
        ["list:block:terminal_id", "trusted", "big"],
        ["list:allow:customer_id", "big"],
        [],
    ]
    assert {s["policy_version"] for s in scores} == {"pol-1"}
    alerts = outputs_on(out, TOPICS.alerts)
    assert [(a["event_id"], a["tier"], a["rules"]) for a in alerts] == [
        ("evt-0", "block", ["list:block:terminal_id", "trusted", "big"])
    ]


@pytest.mark.parametrize("policy", [None, POLICY], ids=["no-policy", "policy"])
def test_a_block_list_wins_over_an_allow_list(policy: Ruleset | None) -> None:
    listed = lists(allow_customer_id=["cust-0"], block_terminal_id=["term-0"])
    d = decided([10.0], rules=policy, lists=listed)
    assert actions(d) == ["block"]
    assert d.fired[0][:2] == ("list:block:terminal_id", "list:allow:customer_id")


def test_optional_fields_match_only_where_the_event_has_them() -> None:
    good = good_pairs([10.0, 10.0])
    events = [
        good[0][1],
        good[1][1].model_copy(update={"country": "NG", "merchant_category": "7995"}),
    ]
    listed = lists(block_country=["NG"], block_merchant_category=["7995"])
    hits = match_lists(listed, events)
    assert hits.actions == {1: "block"}
    assert hits.ids == {1: ("list:block:merchant_category", "list:block:country")}


class Untouchable:
    """An event no one may look at: empty lists must not."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"read {name} of an event with nothing listed")


def test_empty_lists_cost_nothing_and_change_nothing() -> None:
    empty = ListSnapshot(7, {f: frozenset() for f in LIST_FIELDS}, {})
    assert empty.empty
    hits = match_lists(empty, [Untouchable()] * 3)  # type: ignore[list-item]
    assert hits.ids == {} and hits.actions == {} and hits.counts == {}
    amounts = [10.0, 60.0, 95.0, 20.0]
    for policy in (None, POLICY):
        plain, listed = decided(amounts, rules=policy), decided(amounts, rules=policy, lists=empty)
        assert listed.tiers == plain.tiers and listed.fired == plain.fired
        assert listed.reasons == plain.reasons and listed.list_hits == {}
        assert listed.lists_version == 7 and plain.lists_version is None
