"""``fraudscore rules backtest`` on a dataset file: what it compares against, where it writes,
and one clear line (exit 1, no traceback, nothing written) for what cannot run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app
from decision import policy_store
from simulator.dataset import write_dataset

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "policies" / "example.yaml"
OTHER = """name: other
rules:
  - id: big
    description: large payments go to review
    action: review
    when: amount > 150
"""


@pytest.fixture(scope="module")
def data(e2e_dataset: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(e2e_dataset, tmp_path_factory.mktemp("bt") / "tx.parquet")


@pytest.fixture
def root(e2e_model_dir: Path, tmp_path: Path) -> Path:
    out = tmp_path / "models"
    shutil.copytree(e2e_model_dir, out)
    return out


def run(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["rules", "backtest", "--model-dir", str(root), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def test_against_current_is_the_policy_in_force_and_both_files_are_written(
    root: Path, data: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(OTHER)
    version = policy_store.promote(root, other, reason="test", author="t")
    out = tmp_path / "bt"
    code, output = run(root, "--policy", str(EXAMPLE), "--data", str(data), "--out", str(out))
    assert code == 0, output
    bt = json.loads((out / "backtest.json").read_text())
    assert bt["against"]["label"] == "current" and bt["against"]["version"] == version
    assert [r["id"] for r in bt["against"]["rules"]] == ["big"]
    assert [r["id"] for r in bt["policy"]["rules"]] == [
        "amount-spike",
        "risky-terminal-large",
        "night-high-score",
        "small-regular-customer",
        "velocity-probe",
    ]
    md = (out / "backtest.md").read_text()
    assert "| velocity-probe | block | shadow |" in md
    assert f"current ({version})" in md
    assert "judged from" in output  # says which days were judged, and why


def test_with_no_policy_in_force_the_comparison_is_the_model_alone(
    root: Path, data: Path, tmp_path: Path
) -> None:
    code, output = run(
        root, "--policy", str(EXAMPLE), "--data", str(data), "--out", str(tmp_path / "o")
    )
    assert code == 0, output
    bt = json.loads((tmp_path / "o" / "backtest.json").read_text())
    assert bt["against"]["label"] == "model alone (no policy in force)"
    assert bt["against"]["rules"] == [] and bt["against"]["version"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give one of --data FILE or --live-days N"),
        (["--live-days", "3", "--data", "D"], "give one of --data FILE or --live-days N"),
        (["--data", "D", "--since", "2030-01-01"], "no judged events in"),
        (["--data", "D", "--model", "nope"], "unknown model version 'nope'"),
        (["--data", "D", "--against", "missing.yaml"], "missing.yaml"),
    ],
)
def test_what_cannot_run_is_one_line(
    root: Path, data: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    args = [str(data) if a == "D" else a for a in args]
    out = tmp_path / "never"
    code, output = run(root, "--policy", str(EXAMPLE), *args, "--out", str(out))
    assert code == 1
    assert message in " ".join(output.split()), output
    assert "Traceback" not in output
    assert not out.exists()


def test_a_policy_that_does_not_validate_is_refused_with_the_rule_id(
    root: Path, data: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(OTHER.replace("amount > 150", "amout > 150"))
    code, output = run(root, "--policy", str(bad), "--data", str(data))
    assert code == 1
    assert "refused" in output and "big" in output and "unknown field 'amout'" in output
