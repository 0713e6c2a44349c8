"""One evaluation without Kafka (gauges, performance.json, index, alarm), and ``fraudscore perf``.

The store holds the scenario of ``test_monitoring_performance`` with every label: day 2025-07-01
is complete for v1 (card-day precision 0.5) and v2 (1.0); 2025-07-02 is still provisional.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from core.settings import Settings
from monitoring.index_page import write_index
from monitoring.metrics import PerformanceMetrics
from monitoring.performance.alarm import Expected
from monitoring.performance.cli import app
from monitoring.performance.evaluate import Evaluator, check_retention, open_store
from monitoring.performance.types import PerformanceAlarm, PerformanceSnapshot, read_snapshot
from tests.unit.test_monitoring_performance import LATE, ON_TIME, SCORES

runner = CliRunner()
NOW = datetime(2025, 7, 4, tzinfo=UTC)


def settings_for(tmp_path: Path, **extra: object) -> Settings:
    values: dict[str, object] = {
        "reports_dir": tmp_path / "reports",
        "perf_db": tmp_path / "perf.sqlite3",
        "perf_label_delay_days": 1.0,
        "perf_budget_cards": 2,
        "perf_alarm_days": 1,
        "perf_alarm_margin": 0.1,
        "perf_rolling_days": 7,
        **extra,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = settings_for(tmp_path)
    with open_store(s) as store:
        store.add(SCORES, [*ON_TIME, LATE])
    return s


def evaluator(s: Settings, registry: CollectorRegistry, sent: list[PerformanceAlarm]) -> Evaluator:
    return Evaluator(
        open_store(s),
        s,
        PerformanceMetrics(registry),
        lambda version: Expected(0.9, 0.5, None),
        sent.append,
    )


def test_one_evaluation_sets_gauges_writes_files_and_fires_once(settings: Settings) -> None:
    registry, sent = CollectorRegistry(), list[PerformanceAlarm]()
    ev = evaluator(settings, registry, sent)
    assert ev.run(NOW) == sent and len(sent) == 1
    [event] = sent
    assert (event.model_version, event.status, event.previous_status) == ("v1", "degraded", None)
    assert (event.observed, event.expected, event.first_day.isoformat()) == (0.5, 0.9, "2025-07-01")
    assert event.labels_as_of == LATE.label_time and event.created_at == NOW

    def gauge(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(f"fraudscore_perf_{name}", labels)

    assert gauge("alarm", model_version="v1", metric="precision") == 1.0
    assert gauge("alarm", model_version="v2", metric="precision") == 0.0  # stored silently
    assert gauge("precision", model_version="v1", window="last_complete_day") == pytest.approx(
        1 / 3
    )
    assert gauge("card_precision", model_version="v1", window="rolling_7d") == 0.5
    assert gauge("label_coverage", model_version="v2", window="last_complete_day") == 0.5
    assert gauge("labels_as_of_timestamp_seconds") == LATE.label_time.timestamp()

    snap = read_snapshot(settings.reports_dir)
    assert snap is not None and snap.alarms == {"v1": "degraded", "v2": "ok"}
    assert [(r.day.isoformat(), r.complete) for r in snap.rows] == [
        ("2025-07-01", True),
        ("2025-07-01", True),
        ("2025-07-02", False),
    ]
    page = (settings.reports_dir / "index.html").read_text()
    assert "Model performance from labels" in page and "Label delay 1" in page
    assert page.count('<tr class="incomplete">') == 1 and page.count('<tr class="complete">') == 2
    assert '<span class="degraded">degraded</span>' in page

    assert ev.run(NOW) == []  # same verdicts: nothing to announce
    ev.store.close()
    again = evaluator(settings, CollectorRegistry(), sent)
    assert again.run(NOW) == []  # nor after a restart: the verdicts are stored
    again.store.close()


def test_the_alarm_clears_once_when_back(settings: Settings) -> None:
    sent: list[PerformanceAlarm] = []
    evaluator(settings, CollectorRegistry(), sent).run(NOW)
    lower = settings.model_copy(update={"perf_alarm_expected": 0.55})  # floor 0.45 < 0.5
    ev = evaluator(lower, CollectorRegistry(), sent)
    [cleared] = ev.run(NOW)
    assert (cleared.model_version, cleared.status, cleared.previous_status) == (
        "v1",
        "ok",
        "degraded",
    )
    assert ev.run(NOW) == []
    ev.store.close()


def test_metrics_forget_a_version_that_left_the_table(settings: Settings) -> None:
    registry = CollectorRegistry()
    metrics = PerformanceMetrics(registry)
    with open_store(settings) as store:
        rows = store.table()
    metrics.publish_table(rows, 7)
    labels = {"model_version": "v2", "window": "last_complete_day"}
    assert registry.get_sample_value("fraudscore_perf_precision", labels) == 1.0
    metrics.publish_table([r for r in rows if r.model_version == "v1"], 7)
    assert registry.get_sample_value("fraudscore_perf_precision", labels) is None


def test_retention_shorter_than_delay_plus_window_fails_at_startup(tmp_path: Path) -> None:
    from monitoring.errors import MonitoringError

    with pytest.raises(MonitoringError, match="keep at least 9 days"):
        check_retention(settings_for(tmp_path, perf_retention_days=8, perf_alarm_days=7))


def test_the_index_without_performance_data_says_how_to_get_it(tmp_path: Path) -> None:
    page = write_index(tmp_path).read_text()
    assert "No performance data yet: run fraudscore perf run." in page
    assert "<tr" not in page.split("Model performance from labels")[1]


def cli_env(s: Settings) -> dict[str, str]:
    return {
        "FRAUDSCORE_PERF_DB": str(s.perf_db),
        "FRAUDSCORE_PERF_LABEL_DELAY_DAYS": "1",
        "FRAUDSCORE_PERF_BUDGET_CARDS": "2",
        "FRAUDSCORE_PERF_ALARM_DAYS": "1",
    }


def test_perf_show_json(settings: Settings) -> None:
    result = runner.invoke(app, ["show", "--json"], env=cli_env(settings))
    assert result.exit_code == 0, result.output
    snap = PerformanceSnapshot.model_validate_json(result.stdout)
    assert [r.model_version for r in snap.rows] == ["v1", "v2", "v1"]
    assert (snap.label_delay_days, snap.k, snap.labels_as_of) == (1.0, 2, LATE.label_time)
    assert json.loads(result.stdout)["rows"][0]["precision"] == pytest.approx(1 / 3)


def test_perf_show_table_marks_provisional_days(settings: Settings) -> None:
    plain = runner.invoke(app, ["show"], env={**cli_env(settings), "COLUMNS": "200"})
    result = runner.invoke(
        app, ["show", "--days", "3"], env={**cli_env(settings), "COLUMNS": "200"}
    )
    assert plain.exit_code == result.exit_code == 0, plain.output + result.output
    assert plain.stdout == result.stdout  # the scenario has two days
    assert "model v1" in result.stdout and "model v2" in result.stdout  # no verdict stored yet
    assert "2025-07-02 provisional" in result.stdout and "2025-07-01 final" in result.stdout
    assert "label delay 1 d" in result.stdout

    newest = runner.invoke(
        app,
        ["show", "--days", "1", "--model-version", "v1", "--json"],
        env=cli_env(settings),
    )
    rows = PerformanceSnapshot.model_validate_json(newest.stdout).rows
    assert [(r.model_version, r.day.isoformat()) for r in rows] == [("v1", "2025-07-02")]


def test_perf_show_without_a_store_is_one_red_line(tmp_path: Path) -> None:
    env = {"FRAUDSCORE_PERF_DB": str(tmp_path / "absent.sqlite3")}
    result = runner.invoke(app, ["show"], env=env)
    assert result.exit_code == 1
    assert "no performance store yet" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("command", ["run", "show"])
def test_every_perf_command_has_help_with_an_example(command: str) -> None:
    from cli.main import app as fraudscore  # mounted as `fraudscore perf`

    result = runner.invoke(fraudscore, ["perf", command, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    assert "Examples" in result.stdout and f"fraudscore perf {command}" in result.stdout
