"""Our own vocabulary for drift: what a report found, and the event announcing a change.

Kept apart from ``report.py`` on purpose: these are plain frozen pydantic models with no
Evidently import (Evidently takes 10-20 s to import), so the store, the index, the gauges, the
CLI's fast paths and any consumer of ``fraud.drift`` can read summaries and events cheaply.
The shape of ``DriftSummary`` is pinned by a unit test: consumers read its JSON.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

Status = Literal["drift", "no_drift"]


class _Frozen(BaseModel):
    # NaN/inf are written as "NaN"/"Infinity" strings so a stored summary always reads back.
    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="strings")


class ColumnDrift(_Frozen):
    """Drift of one column: Evidently's score under ``method``, compared with ``threshold``."""

    name: str
    method: str
    score: float
    threshold: float
    drifted: bool


class DriftSummary(_Frozen):
    """What one drift report found; the JSON machines read and the source of every gauge.

    ``status`` is "drift" when the dataset drifted (``share_drifted`` >= ``drift_share``) or the
    model's score drifted: either means the model sees inputs it was not validated on. Single
    drifted features are listed in ``drifted_columns`` without changing the status. The score
    counts as drifted only when Evidently's verdict is backed by a material ``score_psi``
    (>= 0.1, ``monitoring.drift.report.material_score_drift``).
    """

    model_version: str
    window_start: datetime | None
    window_end: datetime | None
    n_current: int
    n_reference: int
    columns: tuple[ColumnDrift, ...]
    drifted_columns: tuple[str, ...]
    share_drifted: float
    drift_share: float
    dataset_drift: bool
    score_drift: ColumnDrift
    score_psi: float
    missing: dict[str, int]
    out_of_range: dict[str, float]
    status: Status
    created_at: datetime
    duration_s: float


class DriftEvent(_Frozen):
    """What the sidecar publishes on ``fraud.drift`` when a model's drift status changes.

    Keyed by model version. ``previous_status`` is None for the first report of a version in
    this reports folder; ``report`` is the HTML file's name inside the reports folder.
    """

    event: Literal["drift_status_changed"] = "drift_status_changed"
    model_version: str
    status: Status
    previous_status: Status | None
    dataset_drift: bool
    share_drifted: float
    drifted_columns: tuple[str, ...]
    score_drifted: bool
    score_psi: float
    n_current: int
    window_start: datetime | None
    window_end: datetime | None
    report: str
    created_at: datetime

    @classmethod
    def from_summary(
        cls, summary: DriftSummary, previous: Status | None, report: str
    ) -> DriftEvent:
        return cls(
            model_version=summary.model_version,
            status=summary.status,
            previous_status=previous,
            dataset_drift=summary.dataset_drift,
            share_drifted=summary.share_drifted,
            drifted_columns=summary.drifted_columns,
            score_drifted=summary.score_drift.drifted,
            score_psi=summary.score_psi,
            n_current=summary.n_current,
            window_start=summary.window_start,
            window_end=summary.window_end,
            report=report,
            created_at=summary.created_at,
        )
