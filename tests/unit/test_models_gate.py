"""The promotion gate on hand-made metric tables, and what applying a decision does."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from core.settings import Settings
from models import registry
from models.cli import app
from models.protocol import fold_starts
from models.retrain.gate import Decision, GateRule, apply, decide
from models.synthetic import synthetic_transactions
from models.train import TrainResult, train_model

CHAMPION = {"auc": 0.90, "average_precision": 0.60, "card_precision_at_100": 0.25}
RULE = GateRule()  # AP, margin 0.01, max drop 0.02, floors AUC 0.7 / AP 0.1 / CP 0


def table(**changes: float) -> dict[str, float]:
    return {**CHAMPION, **changes}


@pytest.mark.parametrize(
    ("candidate", "champion", "rule", "outcome", "said"),
    [
        (table(), None, RULE, "promote", "no model is served yet"),
        (table(auc=0.65), None, RULE, "discard", "AUC 0.6500 is below the floor 0.7"),
        (table(average_precision=0.65), CHAMPION, RULE, "promote", "+0.0500 meets the margin"),
        (table(average_precision=0.61), CHAMPION, RULE, "promote", "+0.0100 meets"),
        (table(average_precision=0.605), CHAMPION, RULE, "challenger", "misses the margin"),
        (table(average_precision=0.59), CHAMPION, RULE, "challenger", "close enough"),
        (table(average_precision=0.55), CHAMPION, RULE, "discard", "behind the champion"),
        (
            table(average_precision=0.70, card_precision_at_100=0.20),
            CHAMPION,
            RULE,
            "challenger",
            "CP@100 0.2000 is 0.0500 below the champion's 0.2500",
        ),
        (
            table(average_precision=0.70, auc=0.885),
            CHAMPION,
            RULE,
            "promote",
            "+0.1000",  # an AUC drop within max_drop is tolerated
        ),
        (
            table(average_precision=math.nan),
            CHAMPION,
            RULE,
            "discard",
            "AP cannot be measured",
        ),
        (
            table(card_precision_at_100=0.30, average_precision=0.50),
            CHAMPION,
            GateRule(metric="card_precision_at_100"),
            "challenger",
            "AP 0.5000 is 0.1000 below",
        ),
        (
            table(card_precision_at_100=0.30),
            CHAMPION,
            GateRule(metric="card_precision_at_100", margin=0.02),
            "promote",
            "CP@100 0.3000 vs champion 0.2500",
        ),
        (
            table(average_precision=0.3),
            None,
            GateRule(floors={"average_precision": 0.4}),
            "discard",
            "AP 0.3000 is below the floor 0.4",
        ),
    ],
)
def test_gate_decisions(
    candidate: dict[str, float],
    champion: dict[str, float] | None,
    rule: GateRule,
    outcome: str,
    said: str,
) -> None:
    decision = decide("cand", candidate, "champ" if champion else None, champion, rule)
    assert decision.outcome == outcome, decision.reasons
    assert any(said in r for r in decision.reasons), decision.reasons


def test_decision_round_trips_through_json() -> None:
    decision = decide("c", table(average_precision=0.7), "p", CHAMPION, RULE)
    again = Decision.from_dict(json.loads(json.dumps(decision.to_dict())))
    assert again == decision


def test_rule_from_settings_and_bad_metric() -> None:
    s = Settings(gate_metric="auc", gate_margin=0.03, gate_max_drop=0.05, gate_min_auc=0.8)
    rule = GateRule.from_settings(s)
    assert (rule.metric, rule.margin, rule.max_drop, rule.floors["auc"]) == ("auc", 0.03, 0.05, 0.8)
    with pytest.raises(ValidationError):
        Settings(gate_metric="accuracy")
    with pytest.raises(ValueError, match="unknown gate metric"):
        decide("c", CHAMPION, None, None, GateRule(metric="accuracy"))


@pytest.fixture(scope="module")
def result() -> TrainResult:
    df = synthetic_transactions()
    params = {"learning_rate": 0.2}
    return train_model(df, train_start=fold_starts(df, 1)[0], window="strict", params=params)


def two_bundles(root: Path, result: TrainResult) -> tuple[str, str]:
    champion = registry.add_bundle(root, result).version  # first: promoted
    candidate = registry.add_bundle(root, result, promote_it=False).version
    return champion, candidate


@pytest.mark.parametrize(
    ("ap", "mode", "action", "served"),
    [
        (0.70, "auto", "promote", "candidate"),
        (0.60, "auto", "challenger", "champion"),
        (0.40, "auto", "discard", "champion"),
        (0.70, "never", "hold", "champion"),
        (0.40, "force", "promote", "candidate"),
    ],
)
def test_apply_moves_the_registry_and_logs_the_numbers(
    tmp_path: Path, result: TrainResult, ap: float, mode: str, action: str, served: str
) -> None:
    champion, candidate = two_bundles(tmp_path, result)
    decision = decide(candidate, table(average_precision=ap), champion, CHAMPION, RULE)
    entry = apply(tmp_path, decision, mode)  # type: ignore[arg-type]
    assert entry["action"] == action and entry["version"] == candidate
    assert registry.current_version(tmp_path) == (candidate if served == "candidate" else champion)
    assert registry.decisions(tmp_path)[-1] == entry
    logged = entry["gate"]
    assert logged["candidate_metrics"]["average_precision"] == ap
    assert logged["champion_metrics"] == CHAMPION and logged["reasons"]
    assert registry.challenger_version(tmp_path) == (candidate if action == "challenger" else None)
    status = {b.version: b.status for b in registry.list_bundles(tmp_path)}
    expected = {"promote": "current", "challenger": "challenger", "discard": "discarded"}
    assert status[candidate] == expected.get(action, "held")
    if mode == "force":
        assert "forced (the gate said discard)" in entry["reason"]


def test_apply_refuses_when_the_champion_changed_meanwhile(
    tmp_path: Path, result: TrainResult
) -> None:
    champion, candidate = two_bundles(tmp_path, result)
    other = registry.add_bundle(tmp_path, result, promote_it=True).version
    decision = decide(candidate, table(average_precision=0.9), champion, CHAMPION, RULE)
    entry = apply(tmp_path, decision)
    assert entry["action"] == "hold" and entry["stale"] is True
    assert registry.current_version(tmp_path) == other


def test_promoting_the_challenger_clears_it(tmp_path: Path, result: TrainResult) -> None:
    champion, candidate = two_bundles(tmp_path, result)
    apply(tmp_path, decide(candidate, table(), champion, CHAMPION, RULE))
    assert registry.challenger_version(tmp_path) == candidate
    registry.promote(tmp_path, candidate)
    assert registry.challenger_version(tmp_path) is None


def test_cli_rollback_and_promote_are_logged_and_gate_rejudges(
    tmp_path: Path, result: TrainResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    champion, candidate = two_bundles(tmp_path, result)
    apply(
        tmp_path, decide(candidate, table(average_precision=0.7), champion, CHAMPION, RULE), "never"
    )
    runner, root = CliRunner(), ["--model-dir", str(tmp_path)]
    res = runner.invoke(app, ["models", "gate", candidate, *root])
    assert res.exit_code == 0, res.output
    assert "gate: promote" in res.output and "+0.1000 meets the margin" in res.output
    assert registry.current_version(tmp_path) == candidate
    res = runner.invoke(app, ["models", "rollback", *root, "--reason", "alerts doubled"])
    assert res.exit_code == 0 and champion in res.output
    last = registry.decisions(tmp_path)[-1]
    assert (last["action"], last["version"], last["previous"]) == ("rollback", champion, candidate)
    assert last["reason"] == "alerts doubled" and last["current"] == champion
    res = runner.invoke(app, ["models", "promote", candidate, *root])
    assert res.exit_code == 0 and registry.decisions(tmp_path)[-1]["reason"] == "promoted by hand"
    res = runner.invoke(app, ["models", "decisions", *root, "--last", "3"])
    assert res.exit_code == 0 and "rollback" in res.output and "alerts doubled" in res.output
    res = runner.invoke(app, ["models", "gate", champion, *root])
    assert res.exit_code == 1 and "never measured" in res.output
    assert res.output.strip().count("\n") == 0, res.output
