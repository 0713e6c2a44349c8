"""``fraudscore drift``: report from two files, index, clear one-line errors, the bundle loader."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from monitoring.drift.cli import app, bundle_reference_loader, read_frame
from monitoring.errors import InputDataError

runner = CliRunner()


def write(path: Path, shift: float, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "amount": rng.normal(50 + shift, 10, 300),
            "is_night": (rng.random(300) < 0.2) * 1.0,
            "score": rng.beta(1, 10, 300),
        }
    )
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path)
    return path


def test_report_prints_the_table_and_writes_html(tmp_path: Path) -> None:
    ref = write(tmp_path / "ref.parquet", 0.0, 1)
    cur = write(tmp_path / "cur.csv", 30.0, 2)
    out = tmp_path / "reports"
    result = runner.invoke(
        app,
        [
            "report",
            "--reference",
            str(ref),
            "--current",
            str(cur),
            "--columns",
            "amount,is_night",
            "--reports-dir",
            str(out),
            "--model-version",
            "v5",
            "--fast",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Drift of model v5" in result.output and "amount" in result.output
    assert "HTML report:" in result.output
    assert len(list(out.glob("*_v5.html"))) == 1 and (out / "index.html").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--reference", "absent.parquet", "--current", "absent.csv"],
            "absent.parquet: no such file",
        ),
        (
            ["--reference", "{ref}", "--current", "{ref}", "--columns", "nope"],
            "lacks column(s): nope",
        ),
        (["--reference", "{txt}", "--current", "{ref}"], "unknown format"),
    ],
)
def test_report_errors_are_one_red_line(tmp_path: Path, args: list[str], message: str) -> None:
    ref = write(tmp_path / "ref.parquet", 0.0, 1)
    txt = tmp_path / "x.txt"
    txt.write_text("a")
    args = [a.format(ref=ref, txt=txt) for a in args]
    result = runner.invoke(app, ["report", *args, "--reports-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_index_command(tmp_path: Path) -> None:
    result = runner.invoke(app, ["index", "--reports-dir", str(tmp_path)])
    assert result.exit_code == 0 and (tmp_path / "index.html").is_file()
    missing = runner.invoke(app, ["index", "--reports-dir", str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "no such folder" in missing.output


def test_invalid_setting_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUDSCORE_DRIFT_KEEP", "zero")
    result = runner.invoke(app, ["index"])
    assert result.exit_code == 1 and "invalid setting drift_keep" in result.output


def test_bundle_reference_loader(tmp_path: Path) -> None:
    bundle = tmp_path / "bundles" / "v3"
    bundle.mkdir(parents=True)
    write(bundle / "reference.parquet", 0.0, 1)
    load = bundle_reference_loader(tmp_path)
    frame = load("v3")
    assert frame is not None and list(frame.columns) == ["amount", "is_night", "score"]
    assert load("v4") is None
    assert load("../bundles/v3") is None and load("..") is None


def test_unreadable_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet")
    with pytest.raises(InputDataError, match="cannot read"):
        read_frame(bad)


def test_cli_module_does_not_import_evidently() -> None:
    """Every ``fraudscore`` command mounts this app; Evidently's 10-20 s import must wait."""
    code = (
        "import sys, monitoring.drift.cli, monitoring.drift.store, monitoring.index_page; "
        "print('evidently' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
