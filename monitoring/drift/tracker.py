"""The sidecar's core without Kafka: samples in, reports, gauges and status-change events out.

Why per-version windows: every sample says which model scored it, and a drift report only
means something against *that* model's reference sample. During a rolling deploy workers score
with the old and the new version at once; one shared window would restart on every sample and
never report. So each version gets its own window and reference, the ``max_versions`` most
recently seen are kept (the oldest is dropped, with its gauges), and a version that comes back
later simply starts a fresh window.

A version whose reference cannot be loaded (no bundle, unreadable, wrong columns) is not an
error of the sidecar: its samples are counted as dropped (reason ``no_reference``) and the load
is retried every ``reference_retry_s`` seconds, so publishing the bundle late heals it.

The status (drift / no drift) of a version starts from its newest stored report, so a restarted
sidecar does not announce an unchanged status again.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core.messages import Sample
from monitoring.drift.report import reference_frame, run_drift
from monitoring.drift.store import StoredReport, list_reports, save_report
from monitoring.drift.summary import DriftEvent, Status
from monitoring.drift.window import SampleWindow
from monitoring.errors import InputDataError
from monitoring.index_page import write_index
from monitoring.metrics import DriftMetrics

log = logging.getLogger(__name__)

ReferenceLoader = Callable[[str], pd.DataFrame | None]


@dataclass
class _Version:
    window: SampleWindow
    reference: pd.DataFrame | None
    status: Status | None
    retry_at: float = 0.0


class DriftTracker:
    """Windows per model version, and the report step (drift, store, index, gauges)."""

    def __init__(
        self,
        reference_loader: ReferenceLoader,
        metrics: DriftMetrics,
        *,
        reports_dir: Path,
        columns: Sequence[str],
        window: int,
        keep: int,
        interval_s: float | None = None,
        min_samples: int = 200,
        max_versions: int = 2,
        table: bool = True,
        reference_retry_s: float = 60.0,
    ) -> None:
        self.load_reference = reference_loader
        self.metrics = metrics
        self.reports_dir = reports_dir
        self.columns = tuple(columns)
        self.window, self.keep, self.table = window, keep, table
        self.interval_s, self.min_samples = interval_s, min_samples
        self.max_versions = max_versions
        self.reference_retry_s = reference_retry_s
        self._versions: OrderedDict[str, _Version] = OrderedDict()

    def add(self, sample: Sample, now: float) -> bool:
        """Add a sample to its version's window; False (and counted) when it was dropped."""
        state = self._state(sample.model_version, now)
        if state.reference is None:
            self.metrics.drop("no_reference")
            return False
        state.window.add(sample)
        self.metrics.set_window(sample.model_version, len(state.window))
        return True

    def due(self, now: float) -> list[str]:
        """Versions whose window is due for a report at ``now``."""
        return [v for v, s in self._versions.items() if s.window.due(now) is not None]

    def report(self, version: str, now: float) -> tuple[StoredReport, DriftEvent | None]:
        """Run, store and publish one report; the event is set when the status changed."""
        state = self._versions[version]
        assert state.reference is not None  # windows of versions without reference stay empty
        summary, snapshot = run_drift(
            state.reference,
            state.window.to_frame(),
            columns=self.columns,
            model_version=version,
            table=self.table,
        )
        stored = save_report(self.reports_dir, summary, snapshot, keep=self.keep)
        write_index(self.reports_dir)
        self.metrics.publish_summary(summary)
        state.window.mark_reported(now)
        event = None
        if summary.status != state.status:
            event = DriftEvent.from_summary(summary, state.status, stored.html.name)
        state.status = summary.status
        log.info(
            "drift report %s: model %s, %s, %d/%d features drifted, score PSI %.3f, %.1fs",
            stored.html.name,
            version,
            summary.status,
            len(summary.drifted_columns),
            len(summary.columns),
            summary.score_psi,
            summary.duration_s,
        )
        return stored, event

    def _state(self, version: str, now: float) -> _Version:
        state = self._versions.get(version)
        if state is None:
            state = _Version(self._new_window(now), None, self._last_status(version))
            self._versions[version] = state
            log.info("new model version %s: starting a drift window", version)
            self._evict()
        self._versions.move_to_end(version)
        if state.reference is None and now >= state.retry_at:
            state.reference = self._load(version)
            state.retry_at = now + self.reference_retry_s
        return state

    def _load(self, version: str) -> pd.DataFrame | None:
        try:
            frame = self.load_reference(version)
            if frame is None:
                log.warning("no reference sample for model %s; its samples are dropped", version)
                return None
            return reference_frame(frame, [*self.columns, "score"], f"reference of {version}")
        except (InputDataError, OSError, ValueError) as exc:
            log.error("unusable reference for model %s: %s", version, exc)
            return None

    def _evict(self) -> None:
        while len(self._versions) > self.max_versions:
            old, _ = self._versions.popitem(last=False)
            self.metrics.forget_version(old)
            log.info("dropping the drift window of model %s (not seen recently)", old)

    def _new_window(self, now: float) -> SampleWindow:
        return SampleWindow(
            self.columns,
            self.window,
            interval_s=self.interval_s,
            min_samples=self.min_samples,
            now=now,
        )

    def _last_status(self, version: str) -> Status | None:
        for stored in list_reports(self.reports_dir):
            if stored.summary.model_version == version:
                return stored.summary.status
        return None
