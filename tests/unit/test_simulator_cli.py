"""`simulate` and `produce` from the command line: output, help, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from simulator.cli import app
from simulator.dataset import read_dataset

runner = CliRunner()
SMALL = ["--customers", "100", "--terminals", "200", "--days", "10", "--seed", "5"]


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_simulate_writes_the_file_and_prints_a_summary(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"data{suffix}"
    result = runner.invoke(app, ["simulate", *SMALL, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "fraud rate" in result.output and "transactions / day" in result.output
    df = read_dataset(out)
    assert len(df) > 0 and f"{len(df):,}" in result.output


def test_simulate_extension_switches(tmp_path: Path) -> None:
    out = tmp_path / "x.parquet"
    args = ["--attributes", "--card-testing-day", "5", "--drift-day", "5"]
    result = runner.invoke(
        app, ["simulate", *SMALL, *args, "--drift-amount-factor", "2", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    df = read_dataset(out)
    assert {"CHANNEL", "MERCHANT_CATEGORY", "COUNTRY"} <= set(df.columns)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["simulate", "--customers", "0"], "--customers"),
        (["simulate", "--drift-amount-factor", "2"], "drift_day"),
        (["simulate", "--days", "2", "--out", "x.json"], "unsupported"),
        (["produce", "--data", "nowhere.parquet"], "no such file"),
        (["produce", "--rate", "-1"], "--rate"),
    ],
)
def test_errors_are_one_red_line_and_exit_1(
    args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]


def test_produce_rejects_a_file_without_the_published_columns(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    result = runner.invoke(app, ["produce", "--data", str(bad)])
    assert result.exit_code == 1 and "missing column" in result.output


@pytest.mark.parametrize("command", ["simulate", "produce"])
def test_help_has_an_example(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0 and "Example: fraudscore" in result.output
