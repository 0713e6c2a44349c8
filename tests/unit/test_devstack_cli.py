"""Unit tests of ``fraudscore services``: tables, red error lines, help examples. No sockets."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from devstack import cli, stack
from devstack.errors import ToolMissingError
from devstack.settings import DevstackSettings
from tests.unit.devstack_fixtures import clean_env, devstack_settings, running_stack  # noqa: F401  (two fixtures)

# --- CLI ----------------------------------------------------------------------------------------


runner = CliRunner()


def test_cli_status_prints_a_table(
    monkeypatch: pytest.MonkeyPatch, settings: DevstackSettings
) -> None:
    monkeypatch.setattr(stack, "status", lambda: running_stack(settings))
    result = runner.invoke(cli.services_app, ["status"])
    assert result.exit_code == 0, result.output
    assert "kafka" in result.output and "running" in result.output
    assert "127.0.0.1:31092" in result.output


def test_cli_turns_devstack_errors_into_red_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fail(**kwargs: Any) -> Any:
        raise ToolMissingError("`java` not found on PATH; install it with apt-get")

    monkeypatch.setattr(stack, "up", fail)
    result = runner.invoke(cli.services_app, ["up"])
    assert result.exit_code == 1
    assert "error: `java` not found" in result.output
    assert "Traceback" not in result.output


def test_cli_topics_uses_configured_bootstrap(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def fake_ensure(bootstrap: str, specs: Any, timeout_s: float) -> list[str]:
        seen.append(bootstrap)
        return ["fraud.alerts"]

    monkeypatch.setattr(cli, "ensure_topics", fake_ensure)
    monkeypatch.setenv("FRAUDSCORE_KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    result = runner.invoke(cli.services_app, ["topics"])
    assert result.exit_code == 0, result.output
    assert seen == ["kafka:9092"]
    assert "fraud.alerts" in result.output and "created" in result.output


@pytest.mark.parametrize("command", ["up", "down", "status", "topics"])
def test_cli_help_has_an_example(command: str) -> None:
    result = runner.invoke(cli.services_app, [command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output
