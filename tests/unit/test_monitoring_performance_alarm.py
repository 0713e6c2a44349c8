"""The degradation alarm: the rule, what the bundle expects, and transitions fired once each."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from monitoring.performance.alarm import (
    AlarmRule,
    Expected,
    alarm_event,
    bundle_expected_loader,
    describe,
    evaluate_alarm,
    expected_from_bundle,
)
from monitoring.performance.types import AlarmStatus, DayPerformance, PerformanceAlarm, ratios

D0 = date(2025, 7, 1)
AS_OF = datetime(2025, 7, 20, tzinfo=UTC)
RULE = AlarmRule("precision", days=3, margin=0.1)


def day(
    n: int, card_alerts: int, hits: int, *, complete: bool = True, version: str = "v1"
) -> DayPerformance:
    """Day ``D0 + n`` with ``hits`` of ``card_alerts`` alerted card-days fraudulent (of 10)."""
    counts = {
        "scored": 100,
        "labelled": 10,
        "frauds": 10,
        "alerts": card_alerts,
        "alerted_frauds": hits,
        "card_days": 50,
        "card_alerts": card_alerts,
        "card_alert_frauds": hits,
        "fraud_cards": 10,
    }
    return DayPerformance(
        **counts,
        **ratios(counts),
        average_precision=0.5,
        cp_at_k=hits / 10,
        k=10,
        label_delay_days=7.0,
        model_version=version,
        day=D0 + timedelta(days=n),
        complete=complete,
        final_at=datetime.combine(D0, datetime.min.time(), UTC) + timedelta(days=n + 8),
    )


def evaluate(rows: list[DayPerformance], previous: AlarmStatus | None) -> PerformanceAlarm | None:
    check = evaluate_alarm(rows, "v1", RULE, 0.7)
    return alarm_event(check, previous, labels_as_of=AS_OF, created_at=AS_OF)


def test_no_verdict_until_enough_days_are_complete() -> None:
    rows = [day(0, 10, 2), day(1, 10, 2), day(2, 10, 2, complete=False)]
    check = evaluate_alarm(rows, "v1", RULE, 0.7)
    assert check.status is None and check.reason == "2/3 days complete"
    assert alarm_event(check, None, labels_as_of=AS_OF, created_at=AS_OF) is None


def test_pools_the_newest_complete_days_against_expected_minus_margin() -> None:
    rows = [
        day(0, 10, 10),
        day(1, 10, 5),
        day(2, 10, 6),
        day(3, 10, 7),
        day(4, 10, 0, complete=False),
    ]
    check = evaluate_alarm(rows, "v1", RULE, 0.7)
    assert check.window is not None
    assert (check.window.first_day, check.window.last_day) == (D0 + timedelta(1), D0 + timedelta(3))
    assert check.observed == pytest.approx(18 / 30)  # days 1..3 pooled; day 0 too old
    assert check.floor == pytest.approx(0.6)
    assert check.status == "ok"  # 0.6 is not below the floor 0.6
    worse = evaluate_alarm([*rows[:3], day(3, 10, 6)], "v1", RULE, 0.7)
    assert worse.observed == pytest.approx(17 / 30) and worse.status == "degraded"


def test_fires_once_per_transition_and_clears_when_back() -> None:
    bad = [day(0, 10, 3), day(1, 10, 3), day(2, 10, 3)]
    good = [*bad, day(3, 10, 8), day(4, 10, 8), day(5, 10, 8)]

    first = evaluate(bad, None)
    assert first is not None and (first.status, first.previous_status) == ("degraded", None)
    assert first.observed == pytest.approx(0.3) and first.expected == 0.7
    assert (first.first_day, first.last_day, first.days) == (D0, D0 + timedelta(2), 3)
    assert evaluate(bad, "degraded") is None  # still degraded: nothing new to say

    cleared = evaluate(good, "degraded")
    assert cleared is not None and (cleared.status, cleared.previous_status) == ("ok", "degraded")
    assert evaluate(good, "ok") is None
    assert evaluate(good, None) is None  # a first verdict "ok" is stored silently
    assert evaluate(bad, "ok") is not None  # and a relapse fires again


def test_no_expected_value_or_undefined_metric_gives_no_verdict() -> None:
    rows = [day(0, 0, 0), day(1, 0, 0), day(2, 0, 0)]  # no alert at all: precision undefined
    assert evaluate_alarm(rows, "v1", RULE, 0.7).reason == "metric undefined"
    assert evaluate_alarm(rows, "v1", RULE, None).reason == "no expected value"


def test_other_metrics_and_versions() -> None:
    rows = [day(n, 10, 2) for n in range(3)] + [day(n, 10, 9, version="v2") for n in range(3)]
    recall = evaluate_alarm(rows, "v2", AlarmRule("recall", 3, 0.1), 0.5)
    assert recall.observed == pytest.approx(0.9) and recall.status == "ok"
    cp = evaluate_alarm(rows, "v1", AlarmRule("cp_at_k", 3, 0.05), 0.3)
    assert cp.observed == pytest.approx(0.2) and cp.status == "degraded"


def test_the_log_line_says_what_by_how_much_and_which_days() -> None:
    event = evaluate([day(0, 10, 3), day(1, 10, 3), day(2, 10, 3)], "ok")
    assert event is not None
    assert describe(event) == (
        "model v1: card-day precision degraded to 0.300, 0.400 below the expected 0.700 "
        "(alarm below 0.600) over 2025-07-01..2025-07-03 (3 complete day(s), label delay 7 d)"
    )


def write_bundle(root: Path, version: str, meta: object, metrics: object | None) -> None:
    folder = root / "bundles" / version
    folder.mkdir(parents=True)
    (folder / "metadata.json").write_text(json.dumps(meta))
    if metrics is not None:
        (folder / "metrics.json").write_text(json.dumps(metrics))


def test_expected_values_come_from_the_bundle_files(tmp_path: Path) -> None:
    meta = {"thresholds": {"review": {"threshold": 0.4, "precision": 0.7, "recall": 0.45}}}
    write_bundle(tmp_path, "v1", meta, {"card_precision_at_100": 0.28})
    write_bundle(tmp_path, "v2", {"thresholds": {}}, None)
    write_bundle(tmp_path, "v3", ["not", "an", "object"], None)
    (tmp_path / "bundles" / "v4").mkdir()
    (tmp_path / "bundles" / "v4" / "metadata.json").write_text("{broken")

    load = bundle_expected_loader(tmp_path, k=100)
    assert load("v1") == Expected(0.7, 0.45, 0.28)
    assert load("v2") == Expected(None, None, None)
    assert load("v3") is None and load("v4") is None and load("absent") is None
    assert load("../v1") is None  # a version from Kafka never names a path
    assert bundle_expected_loader(tmp_path, k=50)("v1") == Expected(0.7, 0.45, None)
    assert bundle_expected_loader(tmp_path, k=50, override=0.2)("x") == Expected(0.2, 0.2, 0.2)
    nan = expected_from_bundle({"thresholds": {"review": {"precision": float("nan")}}}, {}, 100)
    assert nan.precision is None
