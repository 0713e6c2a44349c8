"""Backtesting a policy: labelled history replayed through the features, the model and the rules.

A backtest answers "what would this policy have done?" before it is promoted:

1. the history (``models.history``): events with point-in-time features, as the online store
   served them, and the labels known at its cutoff; only events old enough for their labels to
   be due (the label delay) are judged, the younger ones are history for the features only;
2. each judged event is scored by the model (or keeps the score its live record holds), given
   the model's tier (``decision.core.model_severity``) and decided by the policy with the
   stream's own code (``decision.rules.Ruleset.apply_columns``), in chunks;
3. figures per rule and per policy, side by side with the policy it would replace.

Per rule: hits (events it matched), hits per day, frauds among them, precision, recall (of all
judged frauds), and ``only_this_rule``: for a ``review`` or ``block`` rule, the frauds the policy
catches through this rule alone (neither the model's tier nor another rule flagged them); for an
``allow`` rule, the frauds it lets through (flagged otherwise); for a shadow rule, what it would
change: frauds it would add (``review``/``block``) or let through (``allow``).

Per policy: alerts (``review`` + ``block``) in all and per day, precision, recall, and card
precision@k where analysts check at most k of the cards the policy flagged each day, ranked by
action then score (``models.metrics.card_precision_at_k``).

Lists are not replayed: they are live state, and an entry speaks for itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from decision.core import model_severity
from decision.model import FloatArray
from decision.policy import ACTIONS, SEVERITY
from decision.rules import Ruleset
from models.history import LabelledHistory
from models.metrics import card_precision_at_k, day_numbers
from models.retrain.source import TEXT_COLUMNS, Tick

CHUNK = 100_000
BoolArray = npt.NDArray[np.bool_]


class BacktestError(ValueError):
    """A backtest that cannot run (no judged events, an empty window): one line to print."""


@dataclass(frozen=True)
class Replay:
    """The judged events of a history: their frame, features, scores and model tiers."""

    frame: pd.DataFrame  # TX_DATETIME, CUSTOMER_ID, TERMINAL_ID, TX_FRAUD, text columns
    x: FloatArray
    scores: FloatArray
    severity: npt.NDArray[np.int8]  # the model's tier of each event
    model_version: str
    source: str
    first_day: str
    last_day: str
    days: int
    history_events: int  # events read, judged or not

    def strings(self) -> dict[str, npt.NDArray[Any]]:
        """The event's text fields as rule columns; a dataset's integer ids become the tokens
        the simulator sends (``c<id>``, ``t<id>``)."""
        out = {
            "customer_id": _tokens(self.frame["CUSTOMER_ID"], "c"),
            "terminal_id": _tokens(self.frame["TERMINAL_ID"], "t"),
            "currency": np.full(len(self.frame), "EUR", dtype=object),  # the contract's default
        }
        for column, name in TEXT_COLUMNS.items():
            if column in self.frame:
                values = self.frame[column].astype(object)
                out[name] = values.where(values.notna(), None).to_numpy(dtype=object)
        return out


def _tokens(ids: pd.Series, prefix: str) -> npt.NDArray[Any]:
    if pd.api.types.is_integer_dtype(ids):
        return (prefix + ids.astype(str)).to_numpy(dtype=object)
    return ids.astype(str).to_numpy(dtype=object)


class Scorer(Protocol):
    """What a replay needs of a model: its version, thresholds and ``predict``."""

    version: str
    threshold: float
    block_threshold: float | None

    def predict(self, x: FloatArray) -> FloatArray: ...


def replay(
    history: LabelledHistory,
    model: Scorer,
    *,
    since: pd.Timestamp | None = None,
    until: pd.Timestamp | None = None,
    recorded: Mapping[str, float] | None = None,
    tick: Tick | None = None,
) -> Replay:
    """The judged events of ``history`` in ``[since, until]`` (default: all labelled ones),
    scored by ``model`` unless ``recorded`` holds their live score (by event id)."""
    frame = history.frame
    judged = frame["LABELLED"].to_numpy(dtype=bool)
    if since is not None:
        judged &= (frame["TX_DATETIME"] >= since).to_numpy()
    if until is not None:
        judged &= (frame["TX_DATETIME"] <= until).to_numpy()
    rows = np.flatnonzero(judged)
    if not len(rows):
        raise BacktestError(
            f"no judged events in {history.source} between {since or 'its start'} and "
            f"{until or 'the last day whose labels are due'} ({len(frame):,} events read)"
        )
    part = frame.iloc[rows].reset_index(drop=True)
    x = history.features[rows]
    scores = np.empty(len(rows), dtype=np.float64)
    for start in range(0, len(rows), CHUNK):
        scores[start : start + CHUNK] = model.predict(x[start : start + CHUNK])
        if tick is not None:
            tick("scoring", min(start + CHUNK, len(rows)), len(rows))
    if recorded:
        live = part["TRANSACTION_ID"].astype(str).map(recorded)
        known = live.notna().to_numpy()
        scores[known] = live[known].to_numpy(dtype=np.float64)
    days = day_numbers(part["TX_DATETIME"])
    return Replay(
        part,
        x,
        scores,
        model_severity(scores, model.threshold, model.block_threshold),
        model.version,
        history.source,
        str(part["TX_DATETIME"].min().date()),
        str(part["TX_DATETIME"].max().date()),
        int(days.max() - days.min() + 1),
        len(frame),
    )


@dataclass(frozen=True)
class RuleFigures:
    id: str
    action: str
    mode: str
    hits: int
    hits_per_day: float
    frauds: int
    precision: float | None
    recall: float | None
    only_this_rule: int
    failures: int


@dataclass(frozen=True)
class PolicyFigures:
    label: str  # what was backtested: a file, "current", or "model alone"
    version: str | None
    alerts: int
    alerts_per_day: float
    reviews_per_day: float
    blocks_per_day: float
    frauds_caught: int
    precision: float | None
    recall: float | None
    card_precision_at_k: float
    rules: tuple[RuleFigures, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def decide_replay(
    r: Replay, ruleset: Ruleset | None, tick: Tick | None = None
) -> tuple[npt.NDArray[np.int8], dict[str, BoolArray], dict[str, int]]:
    """Every judged event's decision (as a severity), each rule's hits and its failures."""
    if ruleset is None:
        return r.severity.copy(), {}, {}
    strings, n = r.strings(), len(r.scores)
    severity = np.empty(n, dtype=np.int8)
    hits: dict[str, list[BoolArray]] = {rule.id: [] for rule in ruleset.policy.rules}
    failed: dict[str, int] = {}
    for start in range(0, n, CHUNK):
        part = slice(start, start + CHUNK)
        actions = [ACTIONS[s] for s in r.severity[part].tolist()]
        chunk = {k: v[part] for k, v in strings.items()}
        out = ruleset.apply_columns(chunk, r.x[part], r.scores[part], actions)
        severity[part] = [SEVERITY[a] for a in out.actions]
        for rule_id, mask in out.hits.items():
            hits[rule_id].append(mask)
        for rule_id, count in out.failed.items():
            failed[rule_id] = failed.get(rule_id, 0) + count
        if tick is not None:
            tick(f"rules {ruleset.version}", min(start + CHUNK, n), n)
    return severity, {k: np.concatenate(v) for k, v in hits.items()}, failed


def _any(masks: list[BoolArray], n: int) -> BoolArray:
    return np.logical_or.reduce(masks) if masks else np.zeros(n, dtype=bool)


def _only_this_rule(
    ruleset: Ruleset, hits: dict[str, BoolArray], r: Replay, final: BoolArray, fraud: BoolArray
) -> dict[str, int]:
    """``only_this_rule`` of the module docstring, for every rule."""
    flaggers = [
        rule.id for rule in ruleset.policy.rules if rule.mode == "active" and rule.action != "allow"
    ]
    model = r.severity > 0
    before_allow = model | _any([hits[i] for i in flaggers], len(final))
    out: dict[str, int] = {}
    for rule in ruleset.policy.rules:
        hit = hits[rule.id] & fraud
        if rule.mode == "shadow":
            out[rule.id] = int((hit & (final if rule.action == "allow" else ~final)).sum())
        elif rule.action == "allow":
            out[rule.id] = int((hit & before_allow).sum())
        else:
            rest = model | _any([hits[i] for i in flaggers if i != rule.id], len(final))
            out[rule.id] = int((hit & final & ~rest).sum())
    return out


def evaluate(
    r: Replay, ruleset: Ruleset | None, label: str, *, k: int = 100, tick: Tick | None = None
) -> PolicyFigures:
    """Figures of one policy (``None``: the model alone) over a replay."""
    severity, hits, failed = decide_replay(r, ruleset, tick)
    fraud = r.frame["TX_FRAUD"].to_numpy(dtype=np.int64) > 0
    final = severity > 0
    frauds, alerts = int(fraud.sum()), int(final.sum())
    caught = int((final & fraud).sum())
    card = card_precision_at_k(r.frame, severity + r.scores * 0.999, k, checked_from=1.0)
    rules: list[RuleFigures] = []
    if ruleset is not None:
        only = _only_this_rule(ruleset, hits, r, final, fraud)
        for rule in ruleset.policy.rules:
            hit = hits[rule.id]
            n_hits, n_frauds = int(hit.sum()), int((hit & fraud).sum())
            rules.append(
                RuleFigures(
                    rule.id,
                    rule.action,
                    rule.mode,
                    n_hits,
                    n_hits / r.days,
                    n_frauds,
                    _ratio(n_frauds, n_hits),
                    _ratio(n_frauds, frauds),
                    only[rule.id],
                    failed.get(rule.id, 0),
                )
            )
    return PolicyFigures(
        label,
        ruleset.version if ruleset is not None else None,
        alerts,
        alerts / r.days,
        int((severity == SEVERITY["review"]).sum()) / r.days,
        int((severity == SEVERITY["block"]).sum()) / r.days,
        caught,
        _ratio(caught, alerts),
        _ratio(caught, frauds),
        card.mean,
        tuple(rules),
    )


@dataclass(frozen=True)
class Backtest:
    """A policy and the one it would replace, over the same replay."""

    source: str
    model_version: str
    first_day: str
    last_day: str
    days: int
    events: int
    frauds: int
    history_events: int
    k: int
    policy: PolicyFigures
    against: PolicyFigures

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def backtest(
    r: Replay,
    new: tuple[str, Ruleset | None],
    against: tuple[str, Ruleset | None],
    *,
    k: int = 100,
    tick: Tick | None = None,
) -> Backtest:
    """Both policies (label, ruleset) over one replay."""
    return Backtest(
        r.source,
        r.model_version,
        r.first_day,
        r.last_day,
        r.days,
        len(r.frame),
        int((r.frame["TX_FRAUD"].to_numpy() > 0).sum()),
        r.history_events,
        k,
        evaluate(r, new[1], new[0], k=k, tick=tick),
        evaluate(r, against[1], against[0], k=k, tick=tick),
    )
