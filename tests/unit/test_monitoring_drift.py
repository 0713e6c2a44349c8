"""The Evidently wrapper: the summary's shape is pinned, and drift is found where it is."""

from __future__ import annotations

import math
import typing
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from monitoring.drift.report import (
    ALL_MISSING,
    ColumnDrift,
    DriftSummary,
    parse_value_drift,
    psi,
    run_drift,
)
from monitoring.drift.summary import DriftEvent
from monitoring.errors import EvidentlyShapeError, InputDataError

COLS = ["shifted", "stable", "flag"]


def frame(n: int, seed: int, *, shift: float = 0.0, score_shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "shifted": rng.normal(100.0 + shift, 20.0, n),
            "stable": rng.gamma(2.0, 3.0, n),
            "flag": (rng.random(n) < 0.3).astype(float),
            "score": np.clip(rng.beta(1.0, 12.0, n) + score_shift, 0.0, 1.0),
            "event_time": pd.date_range("2025-03-01", periods=n, freq="min", tz="UTC"),
        }
    )


@pytest.fixture(scope="module")
def shifted_run() -> DriftSummary:
    # > 1000 rows: Evidently uses distance methods, whose verdict on pure noise is stable
    # (a p-value test flags 5% of noise columns by design, whatever the seed).
    summary, _ = run_drift(
        frame(1200, 1), frame(1200, 2, shift=25.0), columns=COLS, model_version="v7"
    )
    return summary


def test_summary_shape_is_pinned() -> None:
    """Fails loudly if a field is renamed, dropped or retyped (consumers read this JSON)."""
    hints = typing.get_type_hints(DriftSummary)
    assert {k: str(v) for k, v in hints.items()} == {
        "model_version": "<class 'str'>",
        "window_start": "datetime.datetime | None",
        "window_end": "datetime.datetime | None",
        "n_current": "<class 'int'>",
        "n_reference": "<class 'int'>",
        "columns": "tuple[monitoring.drift.summary.ColumnDrift, ...]",
        "drifted_columns": "tuple[str, ...]",
        "share_drifted": "<class 'float'>",
        "drift_share": "<class 'float'>",
        "dataset_drift": "<class 'bool'>",
        "score_drift": "<class 'monitoring.drift.summary.ColumnDrift'>",
        "score_psi": "<class 'float'>",
        "missing": "dict[str, int]",
        "out_of_range": "dict[str, float]",
        "status": "typing.Literal['drift', 'no_drift']",
        "created_at": "<class 'datetime.datetime'>",
        "duration_s": "<class 'float'>",
    }
    assert {k: str(v) for k, v in typing.get_type_hints(ColumnDrift).items()} == {
        "name": "<class 'str'>",
        "method": "<class 'str'>",
        "score": "<class 'float'>",
        "threshold": "<class 'float'>",
        "drifted": "<class 'bool'>",
    }
    assert list(DriftEvent.model_fields) == [
        "event",
        "model_version",
        "status",
        "previous_status",
        "dataset_drift",
        "share_drifted",
        "drifted_columns",
        "score_drifted",
        "score_psi",
        "n_current",
        "window_start",
        "window_end",
        "report",
        "created_at",
    ]


def test_shifted_column_is_detected_and_unshifted_ones_are_not(shifted_run: DriftSummary) -> None:
    by_name = {c.name: c for c in shifted_run.columns}
    assert [c.name for c in shifted_run.columns] == COLS
    assert by_name["shifted"].drifted
    assert not by_name["stable"].drifted
    assert not by_name["flag"].drifted
    assert shifted_run.drifted_columns == ("shifted",)
    assert shifted_run.share_drifted == pytest.approx(1 / 3)
    assert not shifted_run.dataset_drift  # 1/3 < 0.5
    assert not shifted_run.score_drift.drifted
    assert shifted_run.status == "no_drift"


def test_summary_values(shifted_run: DriftSummary) -> None:
    s = shifted_run
    assert (s.model_version, s.n_current, s.n_reference) == ("v7", 1200, 1200)
    assert s.window_start == datetime(2025, 3, 1, tzinfo=UTC)
    assert s.window_end == datetime(2025, 3, 1, 19, 59, tzinfo=UTC)
    assert s.score_drift.name == "score"
    assert all(c.method and c.threshold > 0 for c in (*s.columns, s.score_drift))
    assert s.missing == {"shifted": 0, "stable": 0, "flag": 0, "score": 0}
    assert s.out_of_range["flag"] == 0.0
    assert 0.0 < s.out_of_range["shifted"] < 0.2  # the shifted tail passes the reference max
    assert s.created_at.tzinfo is not None and s.duration_s > 0
    assert DriftSummary.model_validate_json(s.model_dump_json()) == s


def test_noise_is_not_drift() -> None:
    summary, _ = run_drift(frame(1200, 3), frame(1200, 4), columns=COLS)
    assert summary.drifted_columns == ()
    assert not summary.score_drift.drifted
    assert summary.score_psi < 0.1
    assert summary.status == "no_drift"


def test_small_windows_use_a_statistical_test() -> None:
    summary, _ = run_drift(frame(300, 13), frame(300, 14, shift=25.0), columns=COLS)
    shifted = summary.columns[0]
    assert shifted.drifted and shifted.method == "K-S p_value" and shifted.score < 0.05


def test_a_small_window_against_a_large_reference_is_not_all_noise() -> None:
    """Evidently alone would use 0.1-threshold distances here and flag noise as drift."""
    rng = np.random.default_rng(15)
    noise = [f"n{i}" for i in range(12)]
    ref = pd.DataFrame({c: rng.gamma(2.0, 5.0, 3000) for c in noise})
    cur = pd.DataFrame({c: rng.gamma(2.0, 5.0, 200) for c in noise})
    ref["binary"], cur["binary"] = rng.random(3000) < 0.2, rng.random(200) < 0.2
    ref["score"], cur["score"] = rng.beta(1, 20, 3000), rng.beta(1, 20, 200)
    cur["n0"] = cur["n0"] * 3
    summary, _ = run_drift(ref, cur, columns=[*noise, "binary"], table=False)
    methods = {c.name: c.method for c in summary.columns}
    assert methods["n1"] == "K-S p_value" and methods["binary"] == "Z-test p_value"
    assert "n0" in summary.drifted_columns
    assert len(summary.drifted_columns) <= 3  # ~5% of 12 noise columns, not a third of them


def test_score_drift_and_dataset_drift() -> None:
    ref = frame(1500, 5)  # > 1000 rows: Evidently switches to distance methods
    cur = frame(1500, 6, shift=30.0, score_shift=0.2)
    cur["stable"] = cur["stable"] * 3
    summary, _ = run_drift(ref, cur, columns=COLS)
    assert summary.score_drift.drifted
    assert summary.score_psi > 0.25
    assert set(summary.drifted_columns) == {"shifted", "stable"}
    assert summary.dataset_drift and summary.status == "drift"
    assert "Wasserstein" in summary.score_drift.method


def test_same_numbers_without_the_html_table() -> None:
    ref, cur = frame(300, 7), frame(300, 8, shift=20.0)
    full, _ = run_drift(ref, cur, columns=COLS)
    fast, _ = run_drift(ref, cur, columns=COLS, table=False)
    assert fast.columns == full.columns and fast.score_drift == full.score_drift


def test_missing_values_and_an_all_missing_column() -> None:
    ref, cur = frame(200, 9), frame(200, 10)
    cur.loc[:9, "stable"] = np.nan
    cur.loc[10:11, "stable"] = np.inf  # inf counts as missing
    cur["flag"] = np.nan
    summary, _ = run_drift(ref, cur, columns=COLS)
    assert summary.missing["stable"] == 12
    assert summary.missing["flag"] == 200
    flag = next(c for c in summary.columns if c.name == "flag")
    assert (flag.method, flag.drifted) == (ALL_MISSING, True)
    assert "flag" in summary.drifted_columns
    assert summary.out_of_range["flag"] == 0.0


def test_out_of_range_share_is_exact() -> None:
    ref = pd.DataFrame({"a": [0.0, 10.0] * 50, "score": [0.1, 0.2] * 50})
    cur = pd.DataFrame({"a": [-1.0] * 10 + [5.0] * 70 + [11.0] * 20, "score": [0.15] * 100})
    summary, _ = run_drift(ref, cur, columns=["a"])
    assert summary.out_of_range == {"a": 0.3, "score": 0.0}
    assert summary.window_start is None  # no event_time column


def test_bad_frames_raise_input_data_error() -> None:
    ref = frame(100, 11)
    with pytest.raises(InputDataError, match="current data lacks column"):
        run_drift(ref, ref.drop(columns=["stable"]), columns=COLS)
    with pytest.raises(InputDataError, match="no rows"):
        run_drift(ref, ref.iloc[:0], columns=COLS)
    empty_ref = ref.assign(flag=np.nan)
    with pytest.raises(InputDataError, match="no values in column"):
        run_drift(empty_ref, ref, columns=COLS)
    with pytest.raises(InputDataError, match="non-numeric"):
        run_drift(ref, ref.assign(flag="x"), columns=COLS)


def test_psi() -> None:
    rng = np.random.default_rng(12)
    ref = rng.normal(0, 1, 5000)
    assert psi(ref, rng.normal(0, 1, 5000)) < 0.02
    assert psi(ref, rng.normal(1, 1, 5000)) > 0.25
    ties = np.r_[np.zeros(900), rng.random(100)]  # duplicate quantile edges merge
    assert math.isfinite(psi(ties, ties)) and psi(ties, ties) == pytest.approx(0.0)
    assert psi(ref, np.array([np.nan])) == 0.0


def test_changed_evidently_output_fails_loudly() -> None:
    with pytest.raises(EvidentlyShapeError):
        parse_value_drift(
            {
                "metrics": [
                    {
                        "id": "x",
                        "config": {"type": "evidently:metric_v2:ValueDrift", "column": "a"},
                        "value": 0.1,
                    }
                ],
                "tests": [],
            }
        )


def test_a_significant_but_immaterial_score_shift_is_not_drift() -> None:
    from monitoring.drift.report import ALL_MISSING, material_score_drift
    from monitoring.drift.summary import ColumnDrift

    s = ColumnDrift(name="score", method="K-S p_value", score=0.002, threshold=0.05, drifted=True)
    assert not material_score_drift(s, 0.036).drifted and material_score_drift(s, 0.3).drifted
    gone = ColumnDrift(name="score", method=ALL_MISSING, score=1.0, threshold=1.0, drifted=True)
    assert material_score_drift(gone, 0.0).drifted
