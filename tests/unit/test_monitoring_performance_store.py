"""The SQLite store gives the pure core's table, survives restarts, and absorbs replays."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from monitoring.errors import StateStoreError
from monitoring.performance.store import PerformanceStore
from monitoring.performance.table import performance_table
from tests.unit.test_monitoring_performance import DELAY, LATE, ON_TIME, SCORES, K, score


def open_store(path: Path) -> PerformanceStore:
    return PerformanceStore(path, k=K, label_delay=DELAY)


def test_store_table_equals_the_core_table_with_batches_and_replays(tmp_path: Path) -> None:
    expected = performance_table(SCORES, [*ON_TIME, LATE], k=K, label_delay=DELAY)
    with open_store(tmp_path / "perf.sqlite3") as store:
        store.add(SCORES[:4], ON_TIME[:2])
        store.add(SCORES[2:], [])  # overlapping batch: an at-least-once replay
        store.add([score(2, "a", 0.01, False, version="v9")], [*ON_TIME, LATE, *ON_TIME])
        assert store.table() == expected
        assert store.watermark == LATE.label_time


def test_a_restart_keeps_records_labels_watermark_and_alarm_verdicts(tmp_path: Path) -> None:
    path = tmp_path / "state" / "perf.sqlite3"
    with open_store(path) as store:
        store.add(SCORES, ON_TIME)
        store.set_alarm_status("v1", "precision", "degraded")
        before = store.table()
    with open_store(path) as again:
        assert again.table() == before
        assert again.watermark == max(lab.label_time for lab in ON_TIME)
        assert again.alarm_statuses("precision") == {"v1": "degraded"}
        assert again.alarm_statuses("recall") == {}
        again.set_alarm_status("v1", "precision", "ok")
        assert again.alarm_statuses("precision") == {"v1": "ok"}


def test_cached_days_follow_late_labels_and_the_label_clock(tmp_path: Path) -> None:
    with open_store(tmp_path / "perf.sqlite3") as store:
        store.add(SCORES, ON_TIME)
        first = {(r.model_version, r.day): r for r in store.table()}
        assert not first["v1", date(2025, 7, 1)].complete
        store.add([], [LATE])  # a label of D2 only; it also moves the clock past D1's end + 1 d
        second = {(r.model_version, r.day): r for r in store.table()}
        assert second["v1", date(2025, 7, 1)].complete  # cached row, completeness recomputed
        assert second["v1", date(2025, 7, 2)].frauds == 1  # recomputed: its day was touched


def test_prune_keeps_the_newest_event_days(tmp_path: Path) -> None:
    with open_store(tmp_path / "perf.sqlite3") as store:
        assert store.prune(1) == 0  # empty store
        store.add(SCORES, [*ON_TIME, LATE])
        assert store.prune(2) == 0
        removed = store.prune(1)  # only D2 (the newest scored day) is kept
        assert removed == 7 + 4  # seven D1 score records and four D1 labels
        assert [r.day for r in store.table()] == [date(2025, 7, 2)]
        assert store.table()[0].frauds == 1  # D2's label was kept with it


def test_readonly_open_of_a_missing_store_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StateStoreError, match="cannot open the performance store"):
        PerformanceStore(tmp_path / "absent.sqlite3", k=K, label_delay=DELAY, readonly=True)


def test_a_readonly_reader_sees_what_the_writer_committed(tmp_path: Path) -> None:
    path = tmp_path / "perf.sqlite3"
    with open_store(path) as writer:
        writer.add(SCORES, ON_TIME)
        with PerformanceStore(path, k=K, label_delay=timedelta(days=1), readonly=True) as reader:
            assert reader.table() == writer.table()
            with pytest.raises(StateStoreError, match="cannot write"):
                reader.add(SCORES, [])
