"""``fraudscore scenario`` against running workers passes every check, and fails without them."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from core.settings import Settings
from tests.e2e.helpers import e2e_settings, running_worker

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def _env(monkeypatch: pytest.MonkeyPatch, s: Settings) -> None:
    for name in ("kafka_bootstrap_servers", "topic_transactions", "topic_labels", "topic_scores"):
        monkeypatch.setenv(f"FRAUDSCORE_{name.upper()}", str(getattr(s, name)))
    for name in ("topic_alerts", "topic_dlq", "topic_samples"):
        monkeypatch.setenv(f"FRAUDSCORE_{name.upper()}", str(getattr(s, name)))


def test_scenario_passes_against_a_running_worker(
    kafka_bootstrap: str,
    redis_url: str,
    unique_name: str,
    e2e_model_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = e2e_settings(kafka_bootstrap, redis_url, unique_name, e2e_model_dir)
    _env(monkeypatch, s)
    with running_worker(s, idle_timeout_s=15):
        result = CliRunner().invoke(app, ["scenario", "--customers", "20", "--days", "10"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line[:4] in ("PASS", "FAIL")]
    assert len(lines) == 5 and all(line.startswith("PASS") for line in lines), result.output


def test_scenario_fails_when_no_worker_runs(
    kafka_bootstrap: str,
    redis_url: str,
    unique_name: str,
    e2e_model_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = e2e_settings(kafka_bootstrap, redis_url, unique_name, e2e_model_dir)
    _env(monkeypatch, s)
    args = ["scenario", "--customers", "10", "--days", "3", "--timeout", "5"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "FAIL  every event scored: 0 of" in result.output
