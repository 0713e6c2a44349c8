"""The drift sidecar's report step, timed on a full window, for the bench report.

The budget comes from the drift issue: one report over a 10,000-sample window must take less than
a tenth of the time that window takes to fill at 1% sampling of 5,000 events/s (200 s), so 20 s.
The window is the model bundle's own reference sample, resampled to the window size with a
small amount shift on half the rows, so Evidently has real drift to compute.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from features.registry import FEATURE_NAMES
from models import registry

WINDOW = 10_000
SAMPLE_RATE, OFFERED = 0.01, 5_000.0
BUDGET_S = WINDOW / (SAMPLE_RATE * OFFERED) / 10


def time_drift_report(model_dir: Path, version: str, seed: int = 0) -> dict[str, float]:
    """Seconds for one report step (Evidently run + files + index) over WINDOW samples."""
    from monitoring.drift.report import run_drift
    from monitoring.drift.store import save_report
    from monitoring.index_page import write_index

    reference = pd.read_parquet(registry.bundle_path(model_dir, version) / "reference.parquet")
    rng = np.random.default_rng(seed)
    current = reference.sample(WINDOW, replace=True, random_state=seed).reset_index(drop=True)
    shifted = rng.random(WINDOW) < 0.5
    current.loc[shifted, "amount"] = current.loc[shifted, "amount"] * 1.5
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        summary, snapshot = run_drift(
            reference, current, columns=list(FEATURE_NAMES), model_version=version
        )
        save_report(Path(tmp), summary, snapshot, keep=5)
        write_index(Path(tmp))
        seconds = time.perf_counter() - t0
    return {
        "window": float(WINDOW),
        "reference_rows": float(len(reference)),
        "features": float(len(FEATURE_NAMES)),
        "seconds": seconds,
        "budget_s": BUDGET_S,
    }
