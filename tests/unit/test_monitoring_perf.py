"""How long one drift report takes at production size: 10k samples x 18 features + score.

Measures the sidecar's whole report step (window -> frame -> Evidently -> files -> index) with
and without Evidently's drift table, prints the timings (run with ``-s`` to see them) and only
fails when a report gets absurdly slow: the numbers are for the README, not a benchmark gate.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.messages import Sample
from features.registry import FEATURE_NAMES
from monitoring.drift.report import run_drift
from monitoring.drift.store import save_report
from monitoring.drift.window import SampleWindow
from monitoring.index_page import write_index

N = 10_000


@pytest.mark.slow
@pytest.mark.parametrize("table", [True, False], ids=["with-table", "fast"])
def test_report_time_for_a_10k_window(tmp_path: Path, table: bool) -> None:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({c: rng.gamma(2.0, 5.0, N) for c in FEATURE_NAMES})
    ref["score"] = rng.beta(1.0, 20.0, N)
    window = SampleWindow(FEATURE_NAMES, N)
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    values = rng.gamma(2.0, 5.0, (N, len(FEATURE_NAMES)))
    for i in range(N):
        window.add(
            Sample(
                event_id=str(i),
                event_time=t0 + timedelta(seconds=i),
                model_version="perf",
                score=float(rng.beta(1.0, 20.0)),
                features=dict(zip(FEATURE_NAMES, values[i].tolist(), strict=True)),
            )
        )

    started = time.perf_counter()
    frame = window.to_frame()
    framed = time.perf_counter()
    summary, snapshot = run_drift(
        ref, frame, columns=FEATURE_NAMES, model_version="perf", table=table
    )
    drifted = time.perf_counter()
    stored = save_report(tmp_path, summary, snapshot, keep=5)
    write_index(tmp_path)
    done = time.perf_counter()

    print(
        f"\n10k x {len(FEATURE_NAMES)} features, table={table}: frame "
        f"{framed - started:.2f}s, drift {drifted - framed:.2f}s, files+index "
        f"{done - drifted:.2f}s, total {done - started:.2f}s, html "
        f"{stored.html.stat().st_size / 1e6:.1f} MB"
    )
    assert summary.n_current == N and len(summary.columns) == len(FEATURE_NAMES)
    assert done - started < 180
