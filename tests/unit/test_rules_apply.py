"""A policy applied to a batch: how rules and the model's tier combine into one decision."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from core.messages import TransactionEvent
from decision.policy import Action, parse_policy
from decision.rules import Ruleset
from features.registry import FEATURE_NAMES


def events(amounts: list[float], **extra: list[Any]) -> list[TransactionEvent]:
    out = []
    for i, amount in enumerate(amounts):
        fields = {k: v[i] for k, v in extra.items() if v[i] is not None}
        out.append(
            TransactionEvent.model_validate_json(
                json.dumps(
                    {
                        "event_id": f"e{i}",
                        "event_time": "2018-04-01T10:00:00+00:00",
                        "customer_id": f"c{i}",
                        "terminal_id": "t1",
                        "amount": amount,
                        **fields,
                    }
                )
            )
        )
    return out


def matrix(evs: list[TransactionEvent], **features: list[float]) -> np.ndarray[Any, Any]:
    x = np.zeros((len(evs), len(FEATURE_NAMES)))
    x[:, FEATURE_NAMES.index("amount")] = [ev.amount for ev in evs]
    for name, values in features.items():
        x[:, FEATURE_NAMES.index(name)] = values
    return x


def ruleset(*rules: tuple[str, str, str] | tuple[str, str, str, str]) -> Ruleset:
    lines = ["name: p", "rules:"]
    for r in rules:
        rid, action, when = r[:3]
        lines += [f"  - id: {rid}", "    description: d", f"    action: {action}"]
        lines += [f"    when: '{when}'"] + ([f"    mode: {r[3]}"] if len(r) > 3 else [])
    return Ruleset(parse_policy("\n".join(lines) + "\n"), "pol-1")


def apply(
    rs: Ruleset, evs: list[TransactionEvent], model: list[Action], **feat: list[float]
) -> Any:
    x = matrix(evs, **feat)
    scores = np.array([{"allow": 0.1, "review": 0.6, "block": 0.95}[a] for a in model])
    return rs.apply(evs, x, scores, model)


def test_no_rules_leaves_the_models_tier() -> None:
    evs = events([1, 2, 3])
    got = apply(ruleset(), evs, ["allow", "review", "block"])
    assert got.actions == ["allow", "review", "block"] and got.fired == {} and got.failed == {}


def test_the_most_severe_of_the_model_and_the_matching_rules_wins() -> None:
    rs = ruleset(("big", "review", "amount > 100"), ("huge", "block", "amount > 1000"))
    evs = events([50, 500, 5000, 500])
    got = apply(rs, evs, ["allow", "allow", "review", "block"])
    assert got.actions == ["allow", "review", "block", "block"]  # a review rule never downgrades
    assert got.fired == {1: ("big",), 2: ("big", "huge"), 3: ("big",)}


def test_an_allow_rule_is_an_exception_to_the_model_and_to_other_rules() -> None:
    rs = ruleset(("huge", "block", "amount > 1000"), ("vip", "allow", 'customer_id == "c1"'))
    evs = events([5000, 5000, 10])
    got = apply(rs, evs, ["block", "block", "block"])
    assert got.actions == ["block", "allow", "block"]
    assert got.fired[1] == ("huge", "vip")  # both reported: the analyst sees what was overridden


def test_a_shadow_rule_is_reported_and_never_acts() -> None:
    rs = ruleset(("probe", "block", "amount > 100", "shadow"))
    got = apply(rs, events([500, 50]), ["allow", "allow"])
    assert got.actions == ["allow", "allow"]
    assert got.shadow == {0: ("probe",)} and got.fired == {}


def test_a_rule_that_fails_on_an_event_is_left_out_and_counted() -> None:
    rs = ruleset(("ratio", "block", "amount / customer_avg_amount_7d > 5"))
    evs = events([500, 500])
    got = apply(rs, evs, ["review", "allow"], customer_avg_amount_7d=[0.0, 50.0])
    assert got.actions == ["review", "block"]  # row 0 decided by the model alone
    assert got.failed == {"ratio": 1}


def test_score_booleans_and_event_strings_are_columns() -> None:
    rs = ruleset(
        ("night", "review", "is_night and score >= 0.5"),
        ("geo", "block", 'country in ("NG",) and channel == "ecommerce"'),
    )
    evs = events([10, 10, 10], country=["NG", "NG", None], channel=["ecommerce", None, None])
    got = apply(rs, evs, ["review", "allow", "allow"], is_night=[1.0, 1.0, 0.0])
    assert got.actions == ["block", "allow", "allow"]
    assert got.fired == {0: ("night", "geo")}


def test_decisions_match_a_pandas_recount() -> None:
    rng = np.random.default_rng(7)
    n = 400
    amounts = rng.choice([5.0, 80.0, 300.0, 3000.0], n).tolist()
    risk = rng.choice([0.0, 0.2, 0.5], n)
    count = rng.choice([1.0, 10.0, 40.0], n)
    evs = events(amounts)
    model: list[Action] = rng.choice(["allow", "review", "block"], n).tolist()
    rs = ruleset(
        ("big", "review", "amount > 250"),
        ("risky", "block", "terminal_risk_7d >= 0.3 and amount > 100"),
        ("small", "allow", "amount < 10 and customer_tx_count_30d >= 30"),
    )
    got = apply(
        rs, evs, model, terminal_risk_7d=risk.tolist(), customer_tx_count_30d=count.tolist()
    )
    df = pd.DataFrame({"amount": amounts, "risk": risk, "count": count, "model": model})
    sev = df["model"].map({"allow": 0, "review": 1, "block": 2})
    sev = np.maximum(sev, np.where(df["amount"] > 250, 1, 0))
    sev = np.maximum(sev, np.where((df["risk"] >= 0.3) & (df["amount"] > 100), 2, 0))
    sev = np.where((df["amount"] < 10) & (df["count"] >= 30), 0, sev)
    want = pd.Series(sev).map({0: "allow", 1: "review", 2: "block"}).tolist()
    assert got.actions == want
    assert sum("big" in ids for ids in got.fired.values()) == int((df["amount"] > 250).sum())
