"""The one place Evidently is called: a drift report in, our own ``DriftSummary`` out.

Why a wrapper: Evidently's API and output shape change between minor versions (0.4 -> 0.7 broke
every example online). Everything else in fraudscore reads ``DriftSummary``, a frozen pydantic
model whose shape a unit test pins, so an Evidently upgrade fails one test here instead of
silently emptying dashboards. The Evidently ``Snapshot`` is returned next to it only to be saved
as HTML (for people) and as Evidently's own JSON (for digging).

What is computed, for the feature ``columns`` and the model's ``score``:

1. per-column drift by Evidently's ``DataDriftPreset`` (method per column: K-S, Z-test or
   chi-square when either side has <= 1,000 rows, else Evidently's own pick, normed Wasserstein
   or Jensen-Shannon; see ``small_sample_methods``). ``drifted`` is Evidently's own verdict,
   read from its test results, so p-value and distance methods need no special casing;
2. prediction drift: Evidently's ``ValueDrift`` on the score, plus a PSI computed here with numpy
   on reference-quantile bins (the number risk teams know, stable across Evidently versions).
   The score counts as drifted only when Evidently says so *and* the PSI is material
   (>= ``SCORE_PSI_MATERIAL``); see ``material_score_drift`` for why;
3. dataset drift: share of drifted feature columns >= ``drift_share`` (Evidently's rule);
4. data quality, cheap and exact in pandas: missing values per column, and the share of current
   values outside the reference's [min, max].

A column that is entirely missing in the current window cannot be tested (Evidently raises); it
is reported as drifted with method ``all_missing`` instead, because a feature that stopped
arriving is exactly what drift monitoring must surface.
"""

from __future__ import annotations

__all__ = [
    "ColumnDrift",
    "DriftSummary",
    "Snapshot",
    "material_score_drift",
    "psi",
    "reference_frame",
    "run_drift",
]

import time
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.core.report import Snapshot
from evidently.legacy.calculations.stattests import chi_stat_test as _CHI
from evidently.legacy.calculations.stattests import ks_stat_test as _KS
from evidently.legacy.calculations.stattests import z_stat_test as _Z
from evidently.metrics import ValueDrift
from evidently.presets import DataDriftPreset

from monitoring.drift.summary import ColumnDrift, DriftSummary
from monitoring.errors import EvidentlyShapeError, InputDataError

PSI_BINS = 10
PSI_EPS = 1e-4  # floor of a bin's share, so an empty bin gives a large but finite PSI
SCORE_PSI_MATERIAL = 0.1  # PSI rule of thumb: below 0.1 the score population is stable
SMALL_SAMPLE = 1000  # Evidently's boundary between statistical tests and distances
MAX_CATEGORIES = 5  # Evidently's rule: a numeric column with <= 5 distinct values is categorical
ALL_MISSING = "all_missing"
_VALUE_DRIFT = "evidently:metric_v2:ValueDrift"
# A method we set is echoed by its short name, an auto-picked one by its display name: use one.
_DISPLAY = {t.name: t.display_name for t in (_KS, _CHI, _Z)}

FloatArray = npt.NDArray[np.float64]


def run_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    columns: Sequence[str],
    score_column: str = "score",
    model_version: str = "unknown",
    time_column: str = "event_time",
    drift_share: float = 0.5,
    table: bool = True,
) -> tuple[DriftSummary, Snapshot]:
    """Compare ``current`` with ``reference`` and return our summary and Evidently's snapshot.

    ``time_column`` (optional in ``current``) gives the window's first and last event times.
    ``table=False`` leaves Evidently's dataset drift table out of the HTML: the numbers are the
    same (per-column charts stay) and the run is ~1.7x faster (10k x 18: 2.1 s vs 3.6 s), as
    the preset's table computes every column's drift twice more and renders it with plotly.
    Raises ``InputDataError`` for unusable frames, ``EvidentlyShapeError`` if Evidently's output
    changed shape.
    """
    created_at = datetime.now(UTC)
    started = time.perf_counter()
    cols = [*columns, score_column]
    ref = reference_frame(reference, cols)
    cur = numeric_frame(current, cols, "current")
    testable = [c for c in cols if cur[c].notna().any()]
    tested, snapshot = _evidently_drift(ref, cur, testable, score_column, table)
    per_column = tuple(
        tested.get(c)
        or ColumnDrift(name=c, method=ALL_MISSING, score=1.0, threshold=1.0, drifted=True)
        for c in cols
    )
    features = per_column[:-1]
    score_psi = psi(ref[score_column].to_numpy(), cur[score_column].to_numpy())
    score_drift = material_score_drift(per_column[-1], score_psi)
    drifted = tuple(c.name for c in features if c.drifted)
    share = len(drifted) / len(features) if features else 0.0
    dataset_drift = bool(features) and share >= drift_share
    start, end = _time_range(current, time_column)
    summary = DriftSummary(
        model_version=model_version,
        window_start=start,
        window_end=end,
        n_current=len(cur),
        n_reference=len(ref),
        columns=features,
        drifted_columns=drifted,
        share_drifted=share,
        drift_share=drift_share,
        dataset_drift=dataset_drift,
        score_drift=score_drift,
        score_psi=score_psi,
        missing={c: int(cur[c].isna().sum()) for c in cols},
        out_of_range=_out_of_range(ref, cur, cols),
        status="drift" if dataset_drift or score_drift.drifted else "no_drift",
        created_at=created_at,
        duration_s=time.perf_counter() - started,
    )
    return summary, snapshot


def numeric_frame(frame: pd.DataFrame, cols: Sequence[str], label: str) -> pd.DataFrame:
    """``frame[cols]`` as float64 with +-inf turned into NaN (counted as missing)."""
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise InputDataError(f"{label} data lacks column(s): {', '.join(missing)}")
    if frame.empty:
        raise InputDataError(f"{label} data has no rows")
    try:
        out = frame.loc[:, list(cols)].astype("float64")
    except (TypeError, ValueError) as exc:
        raise InputDataError(f"{label} data has non-numeric values: {exc}") from exc
    return out.replace([np.inf, -np.inf], np.nan).reset_index(drop=True)


def reference_frame(
    frame: pd.DataFrame, cols: Sequence[str], label: str = "reference"
) -> pd.DataFrame:
    """``numeric_frame`` plus the rule that every reference column has values to compare with."""
    ref = numeric_frame(frame, cols, label)
    empty = [c for c in cols if ref[c].isna().all()]
    if empty:
        raise InputDataError(f"{label} has no values in column(s): {', '.join(empty)}")
    return ref


def psi(reference: FloatArray, current: FloatArray, bins: int = PSI_BINS) -> float:
    """Population stability index of ``current`` against ``reference``.

    Bins are the reference's quantiles (equal-mass bins, so a score squeezed near 0 still gets
    resolution); duplicate edges from ties are merged. NaNs are ignored. Rules of thumb:
    < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 major shift.
    """
    ref = reference[~np.isnan(reference)]
    cur = current[~np.isnan(current)]
    if ref.size == 0 or cur.size == 0:
        return 0.0
    edges = np.unique(np.quantile(ref, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    ref_share = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=edges.size + 1)
    cur_share = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=edges.size + 1)
    r = np.clip(ref_share / ref.size, PSI_EPS, None)
    c = np.clip(cur_share / cur.size, PSI_EPS, None)
    return float(np.sum((c - r) * np.log(c / r)))


def material_score_drift(score: ColumnDrift, score_psi: float) -> ColumnDrift:
    """Evidently's verdict on the score, kept as drift only when the PSI says the shift matters.

    Why: the score alone decides the status (and a ``fraud.drift`` event), and a significance
    test answers "is there any difference?", not "is it big enough to act on?". On windows of a
    few hundred to 1,000 samples (K-S, see ``small_sample_methods``) it flags differences of no
    practical weight: the week after a model's reference week gave K-S p = 0.002 on the score at
    a PSI of 0.036 (64% instead of 57% of scores below 0.009: in-sample reference scores and a
    slightly busier week), and 24 of 30 random halves of that week raised the same false alarm.
    Stream samples are not independent draws either (same customers, hours, days), so p-values
    overstate the evidence. Requiring PSI >= 0.1 as well keeps both guards: the test keeps a
    small window's noise (the PSI of 200 samples wanders up to ~0.15) from alarming, the PSI
    keeps significant but immaterial differences from alarming. A real shift passes both by far
    (tripled amounts: p ~ 0, PSI ~ 1.5). An all-missing score stays drifted: nothing to weigh.
    """
    if not score.drifted or score.method == ALL_MISSING or score_psi >= SCORE_PSI_MATERIAL:
        return score
    return score.model_copy(update={"drifted": False})


def column_kinds(ref: pd.DataFrame, cur: pd.DataFrame, columns: Sequence[str]) -> dict[str, int]:
    """Distinct values per column (reference and current together): <= 5 means categorical.

    Flags such as ``is_night`` are numbers on the wire but categories to a drift test; declaring
    them categorical gets them the tests (Z-test, chi-square) and bar charts meant for them.
    """
    return {c: int(pd.concat([ref[c], cur[c]]).nunique()) for c in columns}


def small_sample_methods(distinct: dict[str, int], n_ref: int, n_cur: int) -> dict[str, str]:
    """Statistical tests for every column when either side has <= 1,000 rows, else {}.

    Evidently picks the method from the *reference* size alone: above 1,000 reference rows it
    uses distances (normed Wasserstein, Jensen-Shannon) with a fixed 0.1 threshold. Against a
    current window of a few hundred samples, the sampling noise of those distances is itself
    around 0.1, so pure noise was flagged as drift (6 of 18 unshifted features at 200 samples
    vs a 2,000-row reference). Evidently's own small-sample choice, applied when *either* side
    is small, is calibrated for the sample size: K-S for continuous columns, Z-test for binary,
    chi-square for 3-5 distinct values.
    """
    if min(n_ref, n_cur) > SMALL_SAMPLE:
        return {}
    return {
        c: (_KS if n > MAX_CATEGORIES else _CHI if n > 2 else _Z).name for c, n in distinct.items()
    }


def _evidently_drift(
    ref: pd.DataFrame, cur: pd.DataFrame, testable: list[str], score_column: str, table: bool
) -> tuple[dict[str, ColumnDrift], Snapshot]:
    """Run Evidently on the testable columns: per-column results by name, and the snapshot."""
    features = [c for c in testable if c != score_column]
    distinct = column_kinds(ref, cur, testable)
    methods = small_sample_methods(distinct, len(ref), len(cur))
    metrics: list[Any] = [ValueDrift(column=c, method=methods.get(c)) for c in testable]
    if table and features:  # the preset adds its own ValueDrift per feature
        preset = DataDriftPreset(
            columns=features,
            per_column_method={c: m for c, m in methods.items() if c in features} or None,
        )
        metrics = [preset] + [m for m in metrics if m.column not in features]
    definition = DataDefinition(
        numerical_columns=[c for c in testable if distinct[c] > MAX_CATEGORIES],
        categorical_columns=[c for c in testable if distinct[c] <= MAX_CATEGORIES],
    )
    report = Report(metrics, include_tests=True)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # numpy/scipy noise on constant columns
        snapshot = report.run(
            current_data=Dataset.from_pandas(cur[testable], data_definition=definition),
            reference_data=Dataset.from_pandas(ref[testable], data_definition=definition),
        )
    found = parse_value_drift(snapshot.dict())
    absent = [c for c in testable if c not in found]
    if absent:
        raise EvidentlyShapeError(f"Evidently reported no ValueDrift for: {', '.join(absent)}")
    return found, snapshot


def parse_value_drift(result: dict[str, Any]) -> dict[str, ColumnDrift]:
    """Per-column drift from ``Snapshot.dict()``: ValueDrift metrics joined to their tests.

    Evidently's verdict lives in the test status (FAIL = drift detected), which spares us
    knowing whether a method's score is a p-value (drift below) or a distance (drift above).
    """
    try:
        verdicts = {
            t["metric_config"]["metric_id"]: getattr(t["status"], "value", t["status"])
            for t in result["tests"]
            if t["id"] == "drift"
        }
        out: dict[str, ColumnDrift] = {}
        for m in result["metrics"]:
            cfg = m["config"]
            if cfg.get("type") != _VALUE_DRIFT:
                continue
            out[cfg["column"]] = ColumnDrift(
                name=cfg["column"],
                method=_DISPLAY.get(str(cfg["method"]), str(cfg["method"])),
                score=float(m["value"]),
                threshold=float(cfg["threshold"]),
                drifted=verdicts[m["id"]] == "FAIL",
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise EvidentlyShapeError(f"unexpected Evidently result shape: {exc!r}") from exc
    return out


def _out_of_range(ref: pd.DataFrame, cur: pd.DataFrame, cols: Sequence[str]) -> dict[str, float]:
    """Share of non-missing current values outside the reference's [min, max], per column."""
    out: dict[str, float] = {}
    for c in cols:
        values = cur[c].dropna()
        outside = (values < ref[c].min()) | (values > ref[c].max())
        out[c] = float(outside.mean()) if len(values) else 0.0
    return out


def _time_range(frame: pd.DataFrame, column: str) -> tuple[datetime | None, datetime | None]:
    """First and last event time of the window, when the frame carries them."""
    if column not in frame.columns or frame[column].isna().all():
        return None, None
    times = pd.to_datetime(frame[column], utc=True)
    return times.min().to_pydatetime(), times.max().to_pydatetime()
