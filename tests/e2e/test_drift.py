"""Injected drift, end to end on the real broker and Redis: no alarm before, an alarm after.

The dataset is the e2e model's own training data (same population, seed and days) with the
simulator's amount drift switched on from ``DRIFT_DAY``: every day before it is row for row the
data the model and its reference sample came from. The stream goes through the real worker in
three runs, each a slice of days, with the same Redis namespace, so the online windows carry on
across slices exactly as in one long stream:

1. the history before the monitored weeks, with ``sample_rate=0``: it fills the 30-day windows
   (otherwise the monitored features would be those of a cold start, rightly flagged as drift);
2. the week after the reference week, unchanged: the real sidecar (bundle reference, one report)
   must say "no drift";
3. the drifted week: the sidecar, continuing in the same consumer group, must say "drift" with
   the amount features among the drifted columns, and publish the status change on
   ``fraud.drift``.

Each window is sized to exactly the samples the worker publishes for its slice (sampling is
deterministic by event id, and the ids have a fixed prefix), so every report covers its whole
slice whatever order the partitions are read in: the verdicts are deterministic.
``SAMPLE_RATE`` keeps each window under 1,000 samples, where statistical tests are used and
where a significant but immaterial score difference once raised a false alarm (see
``monitoring.drift.report.SCORE_PSI_MATERIAL``).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from core.settings import Settings
from decision.outputs import is_sampled
from features.registry import FEATURE_NAMES
from monitoring.drift.cli import bundle_reference_loader
from monitoring.drift.sidecar import SidecarStats, run_sidecar
from monitoring.drift.store import StoredReport, list_reports
from monitoring.drift.summary import DriftEvent
from simulator.config import SimulationConfig
from simulator.generate import generate
from simulator.produce import produce_stream
from tests.e2e.conftest import E2E_CONFIG
from tests.e2e.helpers import e2e_settings, read_all, running_worker

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

REFERENCE_END_DAY = 28  # the bundle's reference sample is the last training week, days 21-27
DRIFT_DAY = 35  # days 28-34 are unchanged, amounts x AMOUNT_FACTOR from day 35 to 41
AMOUNT_FACTOR = 3.0
SAMPLE_RATE = 0.5
ID_PREFIX = "drift-"  # fixed, so the sampled events (and so each window) never change
AMOUNT_FEATURES = {
    "amount",
    "customer_avg_amount_1d",
    "customer_avg_amount_7d",
    "amount_to_customer_avg_7d",
    "amount_to_customer_avg_30d",
}


def drifted_config() -> SimulationConfig:
    return E2E_CONFIG.model_copy(
        update={"drift_day": DRIFT_DAY, "drift_amount_factor": AMOUNT_FACTOR}
    )


def days(df: pd.DataFrame, first: int, end: int) -> pd.DataFrame:
    """The rows of days ``first`` to ``end - 1``."""
    return df[(df["TX_TIME_DAYS"] >= first) & (df["TX_TIME_DAYS"] < end)]


def n_sampled(df: pd.DataFrame) -> int:
    """How many samples the worker publishes for these rows (the worker's own rule)."""
    return sum(is_sampled(f"{ID_PREFIX}{i}", SAMPLE_RATE) for i in df["TRANSACTION_ID"])


def stream(df: pd.DataFrame, settings: Settings) -> None:
    """Produce the rows (and their labels) and run the worker until it has scored them all."""
    stats = produce_stream(df, settings, id_prefix=ID_PREFIX, progress=False)
    with running_worker(settings, max_events=stats.transactions, idle_timeout_s=30) as result:
        pass
    assert result["stats"].consumed == stats.transactions


def report_once(settings: Settings, model_dir: Path, group: str) -> SidecarStats:
    """The real sidecar until its first report (its window is exactly one slice's samples)."""
    return run_sidecar(
        settings,
        reference_loader=bundle_reference_loader(model_dir),
        max_runs=1,
        idle_timeout_s=30.0,
        interval_s=None,  # reports only on a full window: never on a timer, so deterministic
        group_id=group,
        registry=CollectorRegistry(),
    )


def slice_start(config: SimulationConfig, day: int) -> datetime:
    return datetime.combine(config.start_date, datetime.min.time()) + timedelta(days=day)


def test_injected_drift_is_found_and_the_unchanged_week_is_not(
    kafka_bootstrap: str,
    redis_url: str,
    unique_name: str,
    e2e_dataset: pd.DataFrame,
    e2e_model_dir: Path,
    tmp_path: Path,
) -> None:
    config = drifted_config()
    df = generate(config)
    history = days(df, 0, REFERENCE_END_DAY)
    pd.testing.assert_frame_equal(  # the model's data, row for row, before the drift
        days(df, 0, DRIFT_DAY), days(e2e_dataset, 0, DRIFT_DAY), check_like=True
    )
    unchanged = days(df, REFERENCE_END_DAY, DRIFT_DAY)
    drifted = days(df, DRIFT_DAY, config.n_days)
    n_unchanged, n_drifted = n_sampled(unchanged), n_sampled(drifted)
    assert 200 <= n_unchanged <= 1000 and 200 <= n_drifted <= 1000

    def settings(sample_rate: float, window: int = 50) -> Settings:
        return e2e_settings(
            kafka_bootstrap,
            redis_url,
            unique_name,
            e2e_model_dir,
            sample_rate=sample_rate,
            reports_dir=tmp_path / "reports",
            drift_window=window,
        )

    quiet, sampling = settings(0.0), settings(SAMPLE_RATE)
    group = f"{unique_name}-drift"
    stream(history, quiet)
    assert read_all(kafka_bootstrap, quiet.topic_samples) == []

    stream(unchanged, sampling)
    first = report_once(settings(SAMPLE_RATE, n_unchanged), e2e_model_dir, group)
    assert (first.consumed, first.invalid, first.reports) == (n_unchanged, 0, 1)
    [calm] = list_reports(tmp_path / "reports")
    check_window(calm, n_unchanged, slice_start(config, REFERENCE_END_DAY))
    assert calm.summary.status == "no_drift", why(calm)
    assert not calm.summary.dataset_drift and not calm.summary.score_drift.drifted

    stream(drifted, sampling)
    second = report_once(settings(SAMPLE_RATE, n_drifted), e2e_model_dir, group)
    assert (second.consumed, second.invalid, second.reports) == (n_drifted, 0, 1)
    alarm, _ = list_reports(tmp_path / "reports")
    check_window(alarm, n_drifted, slice_start(config, DRIFT_DAY))
    assert alarm.summary.status == "drift", why(alarm)
    assert set(alarm.summary.drifted_columns) >= AMOUNT_FEATURES, why(alarm)
    assert alarm.summary.dataset_drift and alarm.summary.score_drift.drifted
    assert alarm.summary.score_psi > 0.25
    assert alarm.summary.out_of_range["amount"] > 0.1  # tripled amounts pass the reference max

    events = [
        DriftEvent.model_validate_json(v or b"")
        for _, v, _ in read_all(kafka_bootstrap, quiet.topic_drift)
    ]
    assert (first.events, second.events) == (1, 1)
    assert [(e.previous_status, e.status) for e in events] == [
        (None, "no_drift"),
        ("no_drift", "drift"),
    ]
    change = events[1]
    assert change.report == alarm.html.name and alarm.html.is_file()
    assert set(change.drifted_columns) >= AMOUNT_FEATURES and change.score_drifted
    index = (tmp_path / "reports" / "index.html").read_text()
    assert index.index(alarm.html.name) < index.index(calm.html.name)  # newest first


def check_window(report: StoredReport, n: int, start: datetime) -> None:
    """The report covers exactly the slice: its samples, from its first day on, all features."""
    s = report.summary
    assert s.n_current == n and s.n_reference > 1000
    assert s.window_start is not None and s.window_end is not None
    assert s.window_start.replace(tzinfo=None) >= start
    assert s.window_end.replace(tzinfo=None) < start + timedelta(days=7)
    assert [c.name for c in s.columns] == list(FEATURE_NAMES)
    assert sum(s.missing.values()) == 0


def why(report: StoredReport) -> str:
    """The numbers behind a verdict, for the assertion message."""
    s = report.summary
    per_column = {c.name: f"{c.method} {c.score:.3g}" for c in s.columns if c.drifted}
    return json.dumps(
        {
            "status": s.status,
            "share_drifted": round(s.share_drifted, 3),
            "drifted": per_column,
            "score": f"{s.score_drift.method} {s.score_drift.score:.3g}",
            "score_psi": round(s.score_psi, 3),
        }
    )
