"""Retraining: the training set's label semantics, file input, the report, the CLI and its loop."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from cli.main import app
from core.settings import Settings, get_settings
from features.registry import FEATURE_NAMES
from models import registry
from models.errors import DataError
from models.retrain.run import build_training_set
from models.retrain.source import StreamData, from_file
from models.train import feature_matrix, train_model
from simulator.config import SimulationConfig
from simulator.dataset import write_dataset
from simulator.generate import generate

DAY = pd.Timedelta(days=1)
START = pd.Timestamp("2018-04-01")
RISK_1D = FEATURE_NAMES.index("terminal_risk_1d")
DRIFT = SimulationConfig(
    n_customers=300,
    n_terminals=600,
    n_days=70,
    seed=3,
    concept_drift_day=35,
    concept_drift_per_day=2,
)


def stream(labels: list[tuple[int, float, bool]]) -> StreamData:
    """Two customers paying at one terminal every day for 50 days (c1 at noon, c2 at 13:00);
    ``labels`` = (day of c1's payment, label delay in days, is_fraud)."""
    rows = []
    for d in range(50):
        rows.append((f"a{d}", START + d * DAY + pd.Timedelta(hours=12), "c1"))
        rows.append((f"b{d}", START + d * DAY + pd.Timedelta(hours=13), "c2"))
    rows.append(("a20", START + 20 * DAY + pd.Timedelta(hours=12), "c1"))  # a duplicate
    tx = pd.DataFrame(rows, columns=["TRANSACTION_ID", "TX_DATETIME", "CUSTOMER_ID"])
    tx["TERMINAL_ID"], tx["TX_AMOUNT"] = "T", 10.0
    lab = pd.DataFrame(
        [
            (f"a{d}", START + d * DAY + pd.Timedelta(hours=12) + delay * DAY, fraud)
            for d, delay, fraud in labels
        ],
        columns=["TRANSACTION_ID", "LABEL_TIME", "IS_FRAUD"],
    )
    return StreamData(tx, lab, "hand-made")


def test_training_set_counts_only_labels_known_at_the_cutoff_and_on_time_for_features() -> None:
    labels = [
        (10, 7, True),  # on time: a target, and the terminal's fraud history a week later
        (12, 9, True),  # late: a target, but the online store did not have it in time
        (14, 40, True),  # after the cutoff: unknown
        (16, 3, True),
        (16, 5, False),  # corrected to legit before the cutoff: the latest label wins
        (45, 1, True),  # known early, but the event is younger than the delay: no target
    ]
    ts = build_training_set(stream(labels), until=START + 49 * DAY, days=90)
    frame = ts.frame.set_index("TRANSACTION_ID")
    assert len(ts.frame) == 98 and frame.index.is_unique  # day 49 is after the cutoff; dup gone
    fraud = frame["TX_FRAUD"]
    assert fraud[fraud == 1].index.tolist() == ["a10", "a12"]
    assert not frame.loc["a45", "LABELLED"] and frame.loc["a41", "LABELLED"]
    risk = pd.Series(ts.features[:, RISK_1D], index=ts.frame["TRANSACTION_ID"])
    # terminal window (t - 8 d, t - 7 d]: c1 and c2 of one day, so one fraud is a risk of 0.5
    assert risk["a17"] == 0.5 and risk["b17"] == 0.5  # a10's label had arrived online
    assert risk["a19"] == 0.0  # a12's label came two days too late for the online store
    assert risk["a23"] == 0.0 and risk["a21"] == 0.0
    assert ts.train_start == (START + 21 * DAY).date()  # holdout = days 35..41, labels due by 48
    assert ts.holdout == ((START + 35 * DAY).date(), (START + 41 * DAY).date())


def test_too_little_traffic_is_a_clear_error() -> None:
    with pytest.raises(DataError, match="at least 42 days of traffic"):
        build_training_set(stream([]), until=START + 40 * DAY)


@pytest.fixture(scope="module")
def drifted(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Path]:
    df = generate(DRIFT)
    path = write_dataset(df, tmp_path_factory.mktemp("data") / "drifted.parquet")
    return df, path


def test_file_input_gives_the_offline_features_and_labels(
    drifted: tuple[pd.DataFrame, Path],
) -> None:
    df, path = drifted
    ts = build_training_set(from_file(path), days=90)
    assert np.array_equal(ts.features, feature_matrix(df))  # the code `fraudscore train` uses
    labelled = ts.frame["LABELLED"].to_numpy()
    assert (ts.frame["TX_FRAUD"].to_numpy() == df["TX_FRAUD"].to_numpy() * labelled).all()
    assert ts.cutoff == df["TX_DATETIME"].max() and 0 < (~labelled).sum() < 0.15 * len(df)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FRAUDSCORE_MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("FRAUDSCORE_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("FRAUDSCORE_RETRAIN_BUDGET_PER_DAY", "5")
    monkeypatch.setenv("FRAUDSCORE_RETRAIN_INTERVAL_S", "0.01")
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_retrain_from_a_file_is_measured_held_then_promoted_by_the_gate(
    env: pytest.MonkeyPatch, tmp_path: Path, drifted: tuple[pd.DataFrame, Path]
) -> None:
    df, path = drifted
    root, runner = tmp_path / "models", CliRunner()
    old = train_model(df, train_start=DRIFT.start_date + timedelta(days=14), budget_per_day=5)
    champion = registry.add_bundle(root, old).version  # trained on days before the drift
    res = runner.invoke(app, ["retrain", "--data", str(path), "--promote", "never"])
    assert res.exit_code == 0, res.output
    candidate = registry.list_bundles(root)[-1].version
    assert registry.current_version(root) == champion and "gate: promote" in res.output
    folder = tmp_path / "reports" / "retrain" / candidate
    assert {p.name for p in folder.iterdir()} == {"report.md", "report.json", "pr_curves.png"}
    report = json.loads((folder / "report.json").read_text())
    keys = {"candidate", "champion", "data", "training", "holdout", "metrics", "decision"}
    assert set(report) == keys
    cand, champ = report["metrics"]["candidate"], report["metrics"]["champion"]
    aps = champ["average_precision"], cand["average_precision"]
    print(f"\nholdout AP: champion {aps[0]:.3f}, candidate {aps[1]:.3f}")
    assert cand["average_precision"] > champ["average_precision"] + 0.05
    assert report["decision"]["action"] == "hold" and report["holdout"]["frauds"] > 20
    assert "| average precision |" in (folder / "report.md").read_text()
    meta = json.loads((registry.bundle_path(root, candidate) / "metadata.json").read_text())
    assert meta["retrain"]["source"] == str(path) and meta["retrain"]["champion"] == champion

    res = runner.invoke(app, ["models", "gate", candidate])  # the measured verdict, applied
    assert res.exit_code == 0 and registry.current_version(root) == candidate, res.output
    entry = registry.decisions(root)[-1]
    assert entry["action"] == "promote" and entry["gate"]["champion"] == champion
    assert entry["gate"]["candidate_metrics"]["average_precision"] == cand["average_precision"]


def test_schedule_runs_again_and_a_twin_of_the_champion_is_not_promoted(
    env: pytest.MonkeyPatch, tmp_path: Path, drifted: tuple[pd.DataFrame, Path]
) -> None:
    _, path = drifted
    root, runner = tmp_path / "models", CliRunner()
    until = ["--until", "2018-06-05"]  # day 65 of 70: still 42 days before it
    first = runner.invoke(app, ["retrain", "--data", str(path), *until])  # no champion yet
    assert first.exit_code == 0 and "no model is served yet" in first.output, first.output
    champion = registry.current_version(root)
    res = runner.invoke(app, ["retrain", "--data", str(path), *until, "--schedule", "--runs", "2"])
    assert res.exit_code == 0, res.output
    entries = registry.decisions(root)[-2:]
    assert [e["gate"]["champion"] for e in entries] == [champion, champion]
    assert {e["action"] for e in entries} == {"challenger"}  # same data, same model: no gain
    assert registry.current_version(root) == champion and len(registry.list_bundles(root)) == 3


def test_retrain_errors_are_one_red_line(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["retrain", "--data", str(tmp_path / "nope.parquet")])
    assert res.exit_code == 1 and res.output.startswith("error:") and "no such file" in res.output
    assert res.output.strip().count("\n") == 0


@pytest.mark.parametrize(
    "command",
    [
        ["retrain"],
        ["models", "gate"],
        ["models", "decisions"],
        ["models", "list"],
        ["models", "promote"],
        ["models", "rollback"],
        ["simulate"],
    ],
)
def test_help_has_an_example(command: list[str]) -> None:
    res = CliRunner().invoke(app, [*command, "--help"], terminal_width=200)
    assert res.exit_code == 0 and "Example: fraudscore" in res.output


def test_compose_runs_the_retrain_loop_with_the_registry_and_reports_volumes() -> None:
    compose = yaml.safe_load((Path(__file__).parents[2] / "docker-compose.yml").read_text())
    service = compose["services"]["retrain"]
    assert service["command"][:3] == ["fraudscore", "retrain", "--schedule"]
    assert service["depends_on"]["init"]["condition"] == "service_completed_successfully"
    env = service["environment"]
    assert (
        env["FRAUDSCORE_MODEL_DIR"]
        == compose["services"]["worker"]["environment"]["FRAUDSCORE_MODEL_DIR"]
    )
    assert Settings(retrain_interval_s=env["FRAUDSCORE_RETRAIN_INTERVAL_S"]).retrain_interval_s > 0
    assert {v.split(":")[0] for v in service["volumes"]} >= {"models", "reports"}
