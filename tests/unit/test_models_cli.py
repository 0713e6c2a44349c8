"""CLI: train -> bundle -> list/promote/rollback, and one-line errors without tracebacks."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from models import registry
from models.cli import app
from models.synthetic import synthetic_transactions

runner = CliRunner()


@pytest.fixture(scope="module")
def data_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "tx.csv"
    synthetic_transactions().to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def trained(data_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("models")
    res = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(data_csv),
            "--model-dir",
            str(root),
            "--folds",
            "1",
            "--window",
            "strict",
        ],
    )
    assert res.exit_code == 0, res.output
    return root, res.output


def one_line_error(output: str) -> None:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), output
    assert "Traceback" not in output


def test_train_reports_metrics_baselines_and_bundle(trained: tuple[Path, str]) -> None:
    root, output = trained
    version = registry.current_version(root)  # first bundle: promoted by default
    assert version is not None and version in output
    assert "CP@100" in output and "book random forest" in output
    assert "review" in output and "expected precision" in output and "pr_curve.png" in output
    assert (registry.bundles_dir(root) / version / "feature_importance.png").is_file()


def test_models_list_promote_rollback(trained: tuple[Path, str], data_csv: Path) -> None:
    root, _ = trained
    first = registry.current_version(root)
    assert first is not None
    res = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(data_csv),
            "--model-dir",
            str(root),
            "--folds",
            "1",
            "--window",
            "strict",
            "--no-promote",
        ],
    )
    assert res.exit_code == 0, res.output
    assert registry.current_version(root) == first
    second = registry.list_bundles(root)[-1].version
    listing = runner.invoke(app, ["models", "list", "--model-dir", str(root)])
    assert listing.exit_code == 0 and first in listing.output and second in listing.output
    assert (
        runner.invoke(app, ["models", "promote", second, "--model-dir", str(root)]).exit_code == 0
    )
    assert registry.current_version(root) == second
    assert runner.invoke(app, ["models", "rollback", "--model-dir", str(root)]).exit_code == 0
    assert registry.current_version(root) == first


def test_missing_file_one_red_line(tmp_path: Path) -> None:
    res = runner.invoke(
        app, ["train", "--data", str(tmp_path / "nope.parquet"), "--model-dir", str(tmp_path)]
    )
    assert res.exit_code == 1
    one_line_error(res.output)
    assert "no such file" in res.output


def test_missing_columns_one_red_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    synthetic_transactions(n_days=40).drop(columns=["TERMINAL_ID"]).to_csv(path, index=False)
    res = runner.invoke(app, ["train", "--data", str(path), "--model-dir", str(tmp_path)])
    assert res.exit_code == 1
    one_line_error(res.output)
    assert "TERMINAL_ID" in res.output


def test_unknown_version_and_empty_rollback(tmp_path: Path) -> None:
    res = runner.invoke(app, ["models", "promote", "v404", "--model-dir", str(tmp_path)])
    assert res.exit_code == 1
    one_line_error(res.output)
    res = runner.invoke(app, ["models", "rollback", "--model-dir", str(tmp_path)])
    assert res.exit_code == 1
    one_line_error(res.output)


@pytest.mark.parametrize(
    "args", [["train"], ["models", "list"], ["models", "promote"], ["models", "rollback"]]
)
def test_help_has_an_example(args: list[str]) -> None:
    res = runner.invoke(app, [*args, "--help"])
    assert res.exit_code == 0 and "Example: fraudscore" in res.output
