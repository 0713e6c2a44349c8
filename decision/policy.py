"""Rules as data: a policy file of ordered rules beside the model, validated before it can act.

A policy (YAML or JSON) looks like::

    name: card-not-present
    description: what the fraud team runs in production
    rules:
      - id: big-night-ecommerce
        description: large e-commerce payments at night go to review
        action: review
        when: amount > 2000 and is_night and channel == "ecommerce"
      - id: trusted-low-amounts
        description: small payments of long-standing customers are never blocked
        action: allow
        when: amount < 20 and customer_tx_count_30d >= 20
      - id: velocity-probe
        description: being evaluated; reported, never acts
        action: block
        when: customer_tx_count_1d >= 8
        mode: shadow

An expression may name every feature of the registry (``features.registry.FEATURE_NAMES``), the
model's ``score``, and the event's own fields (``RULE_FIELDS`` has the list and types). A rule
that does not parse, or names an unknown field, is refused here, with the rule id, the position
in its expression and what was expected, so a policy that would fail at run time is never
promoted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from decision.expr import Compiled, ExprError, Fields, compile_expr
from features.registry import FEATURE_NAMES

Action = Literal["allow", "review", "block"]
SEVERITY: dict[Action, int] = {"allow": 0, "review": 1, "block": 2}
ACTIONS: tuple[Action, ...] = ("allow", "review", "block")  # by severity

BOOL_FEATURES = frozenset({"is_weekend", "is_night"})
EVENT_STRINGS = (
    "customer_id",
    "terminal_id",
    "currency",
    "channel",
    "merchant_category",
    "country",
)
RULE_FIELDS: Fields = {
    **{f: ("bool" if f in BOOL_FEATURES else "number") for f in FEATURE_NAMES},
    "score": "number",
    **dict.fromkeys(EVENT_STRINGS, "string"),
}


class PolicyError(ValueError):
    """A policy file that cannot be read or does not validate; ``problems`` has one line per
    problem, each naming where it is (the rule, the field, the position)."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source}: " + "; ".join(problems))
        self.source, self.problems = source, problems


class Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$", description="Stable rule id")
    description: str = Field(min_length=1, description="What it is for, for an analyst")
    action: Action
    when: str = Field(min_length=1, description="The condition, in the rule language")
    mode: Literal["active", "shadow"] = Field(
        "active", description="shadow: evaluated and reported, never acts"
    )

    @field_validator("when")
    @classmethod
    def _parses(cls, when: str) -> str:
        compile_expr(when, RULE_FIELDS)  # ExprError is a ValueError: pydantic reports it
        return when

    def compiled(self) -> Compiled:
        return compile_expr(self.when, RULE_FIELDS)


class Policy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    description: str = ""
    rules: tuple[Rule, ...] = ()

    @field_validator("rules", mode="before")
    @classmethod
    def _none_is_no_rules(cls, rules: object) -> object:
        return () if rules is None else rules  # ``rules:`` with nothing under it

    @field_validator("rules")
    @classmethod
    def _unique_ids(cls, rules: tuple[Rule, ...]) -> tuple[Rule, ...]:
        seen: set[str] = set()
        for rule in rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} is used twice")
            seen.add(rule.id)
        return rules


def parse_policy(text: str, source: str = "policy") -> Policy:
    """A policy from YAML (JSON is YAML too); ``PolicyError`` names the rule and the problem."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(source, [f"not valid YAML: {exc}"]) from None
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(source, _explain(exc, data)) from None


def load_policy(path: Path) -> Policy:
    try:
        text = path.read_text()
    except OSError as exc:
        raise PolicyError(str(path), [f"cannot read it: {exc.strerror}"]) from None
    return parse_policy(text, str(path))


def _explain(exc: ValidationError, data: object) -> list[str]:
    """One line per problem: ``rule 'big-night' (rules[0]) when: position 9: ...``."""
    lines = []
    for err in exc.errors(include_url=False):
        loc = list(err["loc"])
        where = ".".join(str(p) for p in loc) or "policy"
        if loc[:1] == ["rules"] and len(loc) >= 2 and isinstance(loc[1], int):
            rid = _rule_id(data, loc[1])
            field = ".".join(str(p) for p in loc[2:]) or "rule"
            where = f"rule {rid!r} (rules[{loc[1]}]) {field}" if rid else f"rules[{loc[1]}] {field}"
        ctx = err.get("ctx", {})
        cause = ctx.get("error") if isinstance(ctx, dict) else None
        message = str(cause) if isinstance(cause, ExprError) else err["msg"]
        lines.append(f"{where}: {message}")
    return lines


def _rule_id(data: object, index: int) -> str | None:
    if isinstance(data, dict):
        rules = data.get("rules")
        if isinstance(rules, list) and index < len(rules) and isinstance(rules[index], dict):
            rid = rules[index].get("id")
            return str(rid) if rid is not None else None
    return None
