"""The performance monitor's durable state: score records waiting for their labels, in SQLite.

Why SQLite (stdlib ``sqlite3``): a score record must wait up to the label delay (days) for its
label, across restarts; one transactional file needs no server and no new dependency. One
process writes (``fraudscore perf run``); ``fraudscore perf show`` reads it at the same time
(WAL journal), read-only.

Where: ``FRAUDSCORE_PERF_DB``, by default NOT inside the reports folder, because that folder is
served over HTTP and this file holds one row per event (customer tokens, scores). What people
and the index page read is the aggregate ``performance.json`` the loop writes there instead.

Tables::

    scores(event_id PK, model_version, day, event_ms, customer_id, score, alerted)
    labels(event_id PK, day, label_ms, is_fraud)
    state(key PK, value)                      watermark_ms: newest label_time seen
    alarms(model_version, metric PK, status)  last verdict of the degradation alarm

Upserts follow the merge rules of ``monitoring.performance.table`` in SQL (first score record wins;
newest label wins, fraud on a tie), so replaying either topic changes nothing. Retention is in
event time: ``prune`` keeps ``retention_days`` days up to the newest scored day.

The table is cached per (version, day) in memory; ``add`` marks the event days it touched and
``table`` recomputes only those (everything on the first call after a start).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import pandas as pd

from core.messages import LabelEvent, ScoreRecord
from monitoring.errors import StateStoreError
from monitoring.performance.table import (
    EVENT_COLUMNS,
    day_of,
    day_performance,
    is_complete,
    to_ms,
)
from monitoring.performance.types import AlarmMetric, AlarmStatus, DayPerformance

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scores (
    event_id TEXT PRIMARY KEY, model_version TEXT NOT NULL, day INTEGER NOT NULL,
    event_ms INTEGER NOT NULL, customer_id TEXT NOT NULL, score REAL NOT NULL,
    alerted INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS scores_by_day ON scores (day, model_version);
CREATE TABLE IF NOT EXISTS labels (
    event_id TEXT PRIMARY KEY, day INTEGER NOT NULL, label_ms INTEGER NOT NULL,
    is_fraud INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS labels_by_day ON labels (day);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS alarms (
    model_version TEXT NOT NULL, metric TEXT NOT NULL, status TEXT NOT NULL,
    PRIMARY KEY (model_version, metric));
"""
_ADD_SCORE = "INSERT OR IGNORE INTO scores VALUES (?, ?, ?, ?, ?, ?, ?)"  # rule 1: first wins
_ADD_LABEL = """
INSERT INTO labels VALUES (?, ?, ?, ?) ON CONFLICT (event_id) DO UPDATE
SET label_ms = excluded.label_ms, is_fraud = excluded.is_fraud
WHERE excluded.label_ms > labels.label_ms
   OR (excluded.label_ms = labels.label_ms AND excluded.is_fraud > labels.is_fraud)
"""  # rule 2: the newest label wins, fraud on a tie
_RAISE_WATERMARK = """
INSERT INTO state VALUES ('watermark_ms', ?) ON CONFLICT (key) DO UPDATE
SET value = max(value, excluded.value)
"""
_GROUP = """
SELECT s.customer_id, s.event_ms, s.score, s.alerted, l.event_id IS NOT NULL,
       coalesce(l.is_fraud, 0)
FROM scores s LEFT JOIN labels l ON l.event_id = s.event_id
WHERE s.model_version = ? AND s.day = ?
"""
_EPOCH_DAY = date(1970, 1, 1)


class PerformanceStore:
    """Score records, labels and alarm verdicts in one SQLite file; the per-day table from them."""

    def __init__(
        self, path: Path, *, k: int, label_delay: timedelta, readonly: bool = False
    ) -> None:
        self.path, self.k, self.label_delay = Path(path), k, label_delay
        self._cache: dict[tuple[str, int], DayPerformance] = {}
        self._dirty: set[int] = set()
        with _wrapped(f"cannot open the performance store {self.path}"):
            if readonly:
                self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(self.path)
                self._db.execute("PRAGMA journal_mode=WAL")  # perf show reads while run writes
                # FULL: a committed batch survives power loss, because its Kafka offsets are
                # committed right after (NORMAL could lose a batch the broker thinks we have)
                self._db.execute("PRAGMA synchronous=FULL")
                self._db.executescript(_SCHEMA)

    def add(self, scores: Sequence[ScoreRecord], labels: Sequence[LabelEvent]) -> None:
        """Upsert one batch of both topics in a single transaction."""
        score_rows = [_score_row(r) for r in scores]
        label_rows = [_label_row(lab) for lab in labels]
        with _wrapped("cannot write to the performance store"), self._db:
            self._db.executemany(_ADD_SCORE, score_rows)
            self._db.executemany(_ADD_LABEL, label_rows)
            if label_rows:
                self._db.execute(_RAISE_WATERMARK, (max(r[2] for r in label_rows),))
        self._dirty.update(r[2] for r in score_rows)
        self._dirty.update(r[1] for r in label_rows)

    @property
    def watermark(self) -> datetime | None:
        """The newest label_time seen (the label clock), None before the first label."""
        row = self._query("SELECT value FROM state WHERE key = 'watermark_ms'")
        return datetime.fromtimestamp(int(row[0][0]) / 1000, UTC) if row else None

    def table(self) -> list[DayPerformance]:
        """One row per (model version, event day), by day then version."""
        watermark = self.watermark
        found = self._query("SELECT DISTINCT model_version, day FROM scores")
        keys = [(str(v), int(d)) for v, d in found]
        for key in keys:
            if key not in self._cache or key[1] in self._dirty:
                events = pd.DataFrame(self._query(_GROUP, key), columns=list(EVENT_COLUMNS))
                self._cache[key] = day_performance(
                    key[0],
                    _date(key[1]),
                    events,
                    k=self.k,
                    label_delay=self.label_delay,
                    watermark=watermark,
                )
        self._cache = {key: self._cache[key] for key in keys}
        self._dirty.clear()
        rows = [
            row.model_copy(update={"complete": is_complete(row.day, watermark, self.label_delay)})
            for row in self._cache.values()
        ]
        return sorted(rows, key=lambda r: (r.day, r.model_version))

    def prune(self, retention_days: int) -> int:
        """Delete rows of event days older than ``retention_days`` before the newest scored day."""
        newest = self._query("SELECT max(day) FROM scores")[0][0]
        if newest is None:
            return 0
        cutoff = int(newest) - retention_days + 1
        with _wrapped("cannot prune the performance store"), self._db:
            gone = self._db.execute("DELETE FROM scores WHERE day < ?", (cutoff,)).rowcount
            gone += self._db.execute("DELETE FROM labels WHERE day < ?", (cutoff,)).rowcount
        return int(gone)

    def alarm_statuses(self, metric: AlarmMetric) -> dict[str, AlarmStatus]:
        """Last stored verdict of each model version's alarm on ``metric``."""
        rows = self._query("SELECT model_version, status FROM alarms WHERE metric = ?", (metric,))
        return {str(v): "degraded" if s == "degraded" else "ok" for v, s in rows}

    def set_alarm_status(self, version: str, metric: AlarmMetric, status: AlarmStatus) -> None:
        with _wrapped("cannot write to the performance store"), self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO alarms VALUES (?, ?, ?)", (version, metric, status)
            )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> PerformanceStore:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.close()

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with _wrapped(f"cannot read the performance store {self.path}"):
            return list(self._db.execute(sql, tuple(params)).fetchall())


@contextmanager
def _wrapped(what: str) -> Iterator[None]:
    """Broken storage is an exception: sqlite3 errors become ``StateStoreError``."""
    try:
        yield
    except sqlite3.Error as exc:
        raise StateStoreError(f"{what}: {exc}") from exc


def _score_row(r: ScoreRecord) -> tuple[str, str, int, int, str, float, int]:
    ms = to_ms(r.event_time)
    return (r.event_id, r.model_version, _day(ms), ms, r.customer_id, r.score, int(r.alerted))


def _label_row(lab: LabelEvent) -> tuple[str, int, int, int]:
    return (lab.event_id, _day(to_ms(lab.event_time)), to_ms(lab.label_time), int(lab.is_fraud))


def _day(ms: int) -> int:
    return (day_of(ms) - _EPOCH_DAY).days


def _date(day: int) -> date:
    return _EPOCH_DAY + timedelta(days=day)
