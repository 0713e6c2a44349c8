"""A policy applied to a batch: every rule evaluated over whole columns, one decision per event.

How the decision is made (the same in the stream, an inline API and a backtest):

1. an active ``allow`` rule that matches decides ``allow``: it is an analyst's explicit
   exception, and it overrides the model and every other rule;
2. otherwise the most severe of the model's tier (``review`` or ``block`` above its thresholds,
   else ``allow``) and the actions of every active rule that matches (``block`` > ``review``);
3. shadow rules are evaluated and reported (``shadow``), never acting.

The allow and block lists, where an event is on one, decide over all of this
(``decision.lists``).

A rule that cannot be decided on an event (its arithmetic is undefined there, e.g. a division
by zero) is left out for that event and counted in ``failed``: the event is still decided, by
the model and the other rules, and never dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from core.messages import TransactionEvent
from decision.expr import Compiled
from decision.model import FloatArray
from decision.policy import ACTIONS, EVENT_STRINGS, RULE_FIELDS, SEVERITY, Action, Policy
from features.registry import FEATURE_NAMES

IntArray = npt.NDArray[np.int8]
BoolArray = npt.NDArray[np.bool_]
_FEATURE_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}


@dataclass(frozen=True, slots=True)
class _Compiled:
    id: str
    action: Action
    shadow: bool
    expr: Compiled


@dataclass(slots=True)
class RuleResults:
    """Per row ``i``: ``actions[i]``; the ids of the active rules that matched (``fired``) and
    of the shadow ones (``shadow``), listed for the rows with any; failures per rule id, and
    each rule's matches as a mask (``hits``)."""

    actions: list[Action]
    fired: dict[int, tuple[str, ...]] = field(default_factory=dict)
    shadow: dict[int, tuple[str, ...]] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    hits: dict[str, BoolArray] = field(default_factory=dict)  # rule id -> rows it matched


class Ruleset:
    """A validated policy compiled once; ``apply`` decides a batch."""

    def __init__(self, policy: Policy, version: str) -> None:
        self.policy, self.version = policy, version
        self._rules = [
            _Compiled(r.id, r.action, r.mode == "shadow", r.compiled()) for r in policy.rules
        ]
        self._names = frozenset().union(*(r.expr.names for r in self._rules))

    def __len__(self) -> int:
        return len(self._rules)

    @property
    def names(self) -> frozenset[str]:
        """The fields the policy reads."""
        return self._names

    def columns(
        self, strings: Mapping[str, npt.NDArray[Any]], x: FloatArray, scores: FloatArray
    ) -> dict[str, npt.NDArray[Any]]:
        """The columns the policy reads, and only those; ``strings`` holds the event's text
        fields by name (a field it lacks is missing on every row)."""
        cols: dict[str, npt.NDArray[Any]] = {}
        for name in self._names:
            if name == "score":
                cols[name] = scores
            elif name in _FEATURE_INDEX:
                col = x[:, _FEATURE_INDEX[name]]
                cols[name] = col > 0.5 if RULE_FIELDS[name] == "bool" else col
            elif name in EVENT_STRINGS:
                cols[name] = strings.get(name, np.full(len(scores), None, dtype=object))
        return cols

    def event_strings(self, events: Sequence[TransactionEvent]) -> dict[str, npt.NDArray[Any]]:
        """The text fields the policy reads, as columns of a batch of events."""
        return {
            name: np.array([getattr(ev, name) for ev in events], dtype=object)
            for name in self._names.intersection(EVENT_STRINGS)
        }

    def apply(
        self,
        events: Sequence[TransactionEvent],
        x: FloatArray,
        scores: FloatArray,
        model_actions: Sequence[Action],
    ) -> RuleResults:
        return self.apply_columns(self.event_strings(events), x, scores, model_actions)

    def apply_columns(
        self,
        strings: Mapping[str, npt.NDArray[Any]],
        x: FloatArray,
        scores: FloatArray,
        model_actions: Sequence[Action],
    ) -> RuleResults:
        """Decide rows given as columns: the stream's batches and a backtest's history alike."""
        n = len(scores)
        cols = self.columns(strings, x, scores)
        severity: IntArray = np.array([SEVERITY[a] for a in model_actions], dtype=np.int8)
        allowed = np.zeros(n, dtype=bool)
        fired: dict[int, list[str]] = {}
        shadow: dict[int, list[str]] = {}
        failed: dict[str, int] = {}
        hits: dict[str, BoolArray] = {}
        for rule in self._rules:
            result = rule.expr.evaluate(cols, n)
            hits[rule.id] = result.hit
            if bad := int(result.failed.sum()):
                failed[rule.id] = bad
            rows = np.flatnonzero(result.hit)
            if not len(rows):
                continue
            for i in rows.tolist():
                (shadow if rule.shadow else fired).setdefault(i, []).append(rule.id)
            if rule.shadow:
                continue
            if rule.action == "allow":
                allowed[rows] = True
            else:
                np.maximum.at(severity, rows, SEVERITY[rule.action])
        severity[allowed] = SEVERITY["allow"]
        return RuleResults(
            [ACTIONS[s] for s in severity.tolist()],
            {i: tuple(ids) for i, ids in fired.items()},
            {i: tuple(ids) for i, ids in shadow.items()},
            failed,
            hits,
        )
