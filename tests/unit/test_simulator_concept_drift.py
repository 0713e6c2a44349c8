"""Concept drift (night takeovers, scenario 5): old rows untouched, a new and learnable pattern."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from pydantic import ValidationError
from sklearn.metrics import average_precision_score
from typer.testing import CliRunner

from models.protocol import make_split
from models.train import TrainResult, feature_matrix, predict, train_model
from simulator.cli import app
from simulator.config import SimulationConfig
from simulator.dataset import read_dataset
from simulator.events import default_id_prefix
from simulator.generate import COLUMNS, _streams, generate, make_population
from simulator.takeover import NIGHT_END_S

SMALL = SimulationConfig(n_customers=300, n_terminals=600, n_days=60, seed=7)
DRIFTED = SMALL.model_copy(update={"concept_drift_day": 40})
BASE = ["TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT", "TX_FRAUD", "TX_FRAUD_SCENARIO"]
OLD_SCENARIOS = [1, 2, 3]
TAKEOVER = 5


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return generate(SMALL)


@pytest.fixture(scope="module")
def drifted() -> pd.DataFrame:
    return generate(DRIFTED)


def test_old_configs_keep_their_rows_metadata_and_event_ids(small: pd.DataFrame) -> None:
    assert "concept_drift_day" not in small.attrs["simulation"]
    assert small.attrs["simulation"] == SMALL.model_dump(
        mode="json", exclude={"concept_drift_day", "concept_drift_per_day"}
    )
    # literal values from before the switch existed: a config change would change every event id
    assert default_id_prefix(SMALL) == "s7c300t600d60-"
    assert default_id_prefix(SMALL.model_copy(update={"attributes": True})) == (
        "s7c300t600d60xmvzoxo-"
    )
    assert default_id_prefix(DRIFTED) not in {"s7c300t600d60-", default_id_prefix(SMALL)}


def test_takeovers_are_appended_and_leave_the_benchmark_rows_alone(
    small: pd.DataFrame, drifted: pd.DataFrame
) -> None:
    pd.testing.assert_frame_equal(generate(DRIFTED), drifted)  # deterministic by seed
    assert (drifted["TRANSACTION_ID"].to_numpy() == np.arange(len(drifted))).all()
    assert tuple(drifted.columns) == COLUMNS
    base = drifted[drifted["TX_FRAUD_SCENARIO"] != TAKEOVER].reset_index(drop=True)
    pd.testing.assert_frame_equal(base[BASE], small[BASE])
    assert drifted.attrs["simulation"]["concept_drift_day"] == 40


def test_takeovers_are_night_bursts_at_usual_amounts_and_terminals(drifted: pd.DataFrame) -> None:
    hits = drifted[drifted["TX_FRAUD_SCENARIO"] == TAKEOVER]
    assert len(hits) >= 40 and (hits["TX_TIME_DAYS"] >= 40).all() and hits["TX_FRAUD"].all()
    assert (hits["TX_TIME_SECONDS"] % 86_400 <= NIGHT_END_S).all()  # hour <= 6: is_night
    per_victim_day = hits.groupby(["CUSTOMER_ID", "TX_TIME_DAYS"]).size()
    assert len(per_victim_day) >= 8 and per_victim_day.min() >= 4  # customer_tx_count_1d jumps
    pop = make_population(DRIFTED, _streams(DRIFTED.seed)["population"])
    for cust, term in hits[["CUSTOMER_ID", "TERMINAL_ID"]].itertuples(index=False):
        assert term in pop.terminals[pop.offsets[cust] : pop.offsets[cust + 1]]
    ratio = hits["TX_AMOUNT"].to_numpy() / pop.mean_amount[hits["CUSTOMER_ID"].to_numpy()]
    assert 0.8 < float(np.median(ratio)) < 1.2  # the victim's usual amounts, not x5


def test_switch_needs_its_day_and_the_cli_sets_it(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="needs concept_drift_day"):
        SimulationConfig(concept_drift_per_day=2.0)
    out = tmp_path / "drift.parquet"
    args = ["--customers", "100", "--terminals", "200", "--days", "20", "--seed", "3"]
    args += ["--concept-drift-day", "10", "--concept-drift-per-day", "2", "--out", str(out)]
    result = CliRunner().invoke(app, ["simulate", *args])
    assert result.exit_code == 0, result.output
    assert "scenario 5" in result.output
    df = read_dataset(out)
    assert (df.loc[df["TX_FRAUD_SCENARIO"] == TAKEOVER, "TX_TIME_DAYS"] >= 10).all()


def _pattern_metrics(
    result: TrainResult,
    x: npt.NDArray[np.float64],
    frame: pd.DataFrame,
    rows: npt.NDArray[np.bool_],
) -> dict[str, tuple[float, float]]:
    """(AP, recall at the review threshold) per pattern: its frauds against all legit rows."""
    scores = predict(result.booster, x[rows])
    label = frame["TX_FRAUD"].to_numpy()[rows]
    scenario = frame["TX_FRAUD_SCENARIO"].to_numpy()[rows]
    out = {}
    for name, mine in (("old", np.isin(scenario, OLD_SCENARIOS)), ("takeover", scenario == 5)):
        keep = (label == 0) | mine
        ap = float(average_precision_score(label[keep], scores[keep]))
        recall = float((scores[mine] >= result.thresholds.review.threshold).mean())
        out[name] = (ap, recall)
    return out


def test_a_model_from_before_the_drift_misses_takeovers_and_a_retrained_one_learns_them() -> None:
    """Drift on day 63; both models are scored on the week [91, 98), after the drift."""
    drift_day = 63
    cfg = SimulationConfig(
        n_customers=1_000,
        n_terminals=2_000,
        n_days=drift_day + 35,
        seed=1,
        concept_drift_day=drift_day,
        concept_drift_per_day=2.0,
    )
    df = generate(cfg)
    x = feature_matrix(df)
    day = cfg.start_date + timedelta(days=drift_day)

    def fit(start: date) -> TrainResult:
        params = {"learning_rate": 0.1}
        return train_model(
            df, train_start=start, features=x, budget_per_day=20, history_days=28, params=params
        )

    before = fit(day - timedelta(days=7))  # trains up to the drift day
    after = fit(day + timedelta(days=14))  # trains on 3 weeks after it
    week = make_split(df, day + timedelta(days=14), "history").test  # after's test week
    old = _pattern_metrics(before, x, df, week)
    new = _pattern_metrics(after, x, df, week)
    print(
        f"\nweek after the drift, AP / recall at the review threshold:\n"
        f"  model trained before the drift: old patterns {old['old'][0]:.3f} / {old['old'][1]:.3f}"
        f", takeovers {old['takeover'][0]:.3f} / {old['takeover'][1]:.3f}\n"
        f"  model retrained after the drift: old patterns {new['old'][0]:.3f} / {new['old'][1]:.3f}"
        f", takeovers {new['takeover'][0]:.3f} / {new['takeover'][1]:.3f}"
    )
    assert old["takeover"][0] < 0.1 and old["takeover"][0] < old["old"][0] / 4
    assert old["takeover"][1] < 0.15 and old["takeover"][1] < old["old"][1] / 3
    assert new["takeover"][0] > max(0.2, 5 * old["takeover"][0])
    assert new["takeover"][1] > 0.4
    assert new["old"][0] > old["old"][0] - 0.1  # learning the new pattern costs the old little
