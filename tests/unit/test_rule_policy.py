"""Policy files: what validates, and how a refusal names the rule, the place and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from decision.policy import RULE_FIELDS, PolicyError, load_policy, parse_policy
from features.registry import FEATURE_NAMES

ROOT = Path(__file__).resolve().parents[2]


def rule(when: str, rid: str = "r1", action: str = "review", **extra: str) -> str:
    lines = [
        f"  - id: {rid}",
        "    description: a rule",
        f"    action: {action}",
        f"    when: {when}",
    ]
    lines += [f"    {k}: {v}" for k, v in extra.items()]
    return "\n".join(lines)


def policy(*rules: str) -> str:
    return "name: p\nrules:\n" + "\n".join(rules) + "\n"


def test_the_shipped_example_validates() -> None:
    p = load_policy(ROOT / "policies" / "example.yaml")
    assert p.name == "example" and len(p.rules) >= 5
    assert {r.action for r in p.rules} == {"allow", "review", "block"}
    assert any(r.mode == "shadow" for r in p.rules)


def test_every_feature_the_score_and_the_event_fields_can_be_named() -> None:
    assert set(FEATURE_NAMES) <= set(RULE_FIELDS)
    assert {"score", "customer_id", "terminal_id", "country", "channel"} <= set(RULE_FIELDS)
    p = parse_policy(policy(rule('score > 0.5 and country == "FR" and is_weekend')))
    assert p.rules[0].mode == "active"


def test_json_is_accepted_too() -> None:
    text = (
        '{"name": "p", "rules": [{"id": "a", "description": "d", "action": "block",'
        ' "when": "amount > 1"}]}'
    )
    assert parse_policy(text).rules[0].action == "block"


def test_an_unknown_field_is_refused_with_the_rule_id_and_position() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(policy(rule("amount > 1"), rule("amout > 5", rid="typo")), "new.yaml")
    message = str(caught.value)
    assert message.startswith("new.yaml: rule 'typo' (rules[1]) when:")
    assert "position 1: unknown field 'amout'; did you mean amount" in message


def test_an_expression_that_does_not_parse_is_refused() -> None:
    with pytest.raises(PolicyError, match=r"rule 'r1' \(rules\[0\]\) when: position 9: does not"):
        parse_policy(policy(rule("amount >")))


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (policy(rule("amount > 1"), rule("amount > 2")), "rule id 'r1' is used twice"),
        (policy(rule("amount > 1", action="deny")), "Input should be 'allow', 'review' or"),
        (policy(rule("amount > 1", mode="off")), "Input should be 'active' or 'shadow'"),
        (policy(rule("amount > 1", colour="red")), "colour: Extra inputs are not permitted"),
        ("rules: []\n", "name: Field required"),
        ("name: p\nrules: [\n", "not valid YAML"),
    ],
)
def test_other_mistakes_are_one_line_each(text: str, says: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    assert says in str(caught.value)
    assert "Traceback" not in str(caught.value)


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"nope\.yaml: cannot read it: No such file"):
        load_policy(tmp_path / "nope.yaml")
