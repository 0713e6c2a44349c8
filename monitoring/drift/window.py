"""A bounded rolling window of drift samples, and the rule for when it is due for a report.

Pure: no Kafka, no clock of its own (the caller passes ``now`` from ``time.monotonic()``), so the
fill and schedule rules are unit-tested without sleeping.

Why both rules:
- **full**: every ``capacity`` new samples, so at high traffic each report covers a fresh,
  complete window (reports never overlap, and their cost scales with the sample rate);
- **schedule**: every ``interval_s`` seconds once at least ``min_samples`` are held, so at low
  traffic (nights, a quiet merchant segment) a report still appears instead of waiting for hours.
  A schedule tick with no new sample since the last report is skipped: it would repeat it.

Samples are stored as compact tuples in feature order (not as pydantic objects), which keeps a
10k-sample window small and makes ``to_frame`` one numpy conversion.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal

import numpy as np
import pandas as pd

from core.messages import Sample

DueReason = Literal["full", "schedule"]


class SampleWindow:
    """The last ``capacity`` samples of one model version, in arrival order."""

    def __init__(
        self,
        columns: Sequence[str],
        capacity: int,
        *,
        interval_s: float | None = None,
        min_samples: int = 200,
        now: float = 0.0,
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.columns = tuple(columns)
        self.capacity = capacity
        self.interval_s = interval_s
        self.min_samples = min(min_samples, capacity)
        self._times: deque[datetime] = deque(maxlen=capacity)
        self._scores: deque[float] = deque(maxlen=capacity)
        self._rows: deque[tuple[float, ...]] = deque(maxlen=capacity)
        self._new = 0
        self._last_report = now

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def new_since_report(self) -> int:
        """Samples added since the last report (or since the window started)."""
        return self._new

    def add(self, sample: Sample) -> None:
        """Append one sample; the oldest falls out when full. Absent features become NaN."""
        when = sample.event_time
        self._times.append(when if when.tzinfo else when.replace(tzinfo=UTC))
        self._scores.append(sample.score)
        self._rows.append(tuple(sample.features.get(c, math.nan) for c in self.columns))
        self._new += 1

    def due(self, now: float) -> DueReason | None:
        """Why a report is due at ``now`` (monotonic seconds), or None when it is not."""
        if self._new >= self.capacity:
            return "full"
        if (
            self.interval_s is not None
            and self._new > 0
            and len(self) >= self.min_samples
            and now - self._last_report >= self.interval_s
        ):
            return "schedule"
        return None

    def mark_reported(self, now: float) -> None:
        """Restart both counters: the next report needs new samples or a new interval."""
        self._new = 0
        self._last_report = now

    def to_frame(
        self, score_column: str = "score", time_column: str = "event_time"
    ) -> pd.DataFrame:
        """The window as a frame: one column per feature, plus score and event time."""
        values = np.asarray(self._rows, dtype=np.float64).reshape(len(self), len(self.columns))
        frame = pd.DataFrame(values, columns=list(self.columns))
        frame[score_column] = np.asarray(self._scores, dtype=np.float64)
        frame[time_column] = pd.to_datetime(list(self._times), utc=True)
        return frame
