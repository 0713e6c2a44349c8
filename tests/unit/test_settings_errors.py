"""Settings that do not validate: one line per problem naming the environment variable, its value
(never a secret's) and what is allowed, exit code 2, never a traceback.

The issue's repros gave 40-64 lines of traceback naming internal fields. The console script is
run for real (``python -m cli.main``, what the ``fraudscore`` entry point calls), so the check
covers the whole path from the environment to the terminal.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsError

from core.settings import Settings, settings_problems

ROOT = Path(__file__).resolve().parents[2]


def problems(monkeypatch: pytest.MonkeyPatch, **env: str) -> list[str]:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises((ValidationError, SettingsError)) as info:
        Settings(_env_file=None)
    found = settings_problems(info.value)
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        (
            "FRAUDSCORE_BATCH_MAX_EVENTS",
            "abc",
            "FRAUDSCORE_BATCH_MAX_EVENTS='abc': Input should be a valid integer",
        ),
        (
            "FRAUDSCORE_DELIVERY",
            "twice",
            "FRAUDSCORE_DELIVERY='twice': Input should be 'at-least-once' or 'exactly-once'",
        ),
        (
            "FRAUDSCORE_SAMPLE_RATE",
            "2",
            "FRAUDSCORE_SAMPLE_RATE='2': Input should be less than or equal to 1",
        ),
        (
            "FRAUDSCORE_KAFKA_CONFIG",
            "{bad",
            "FRAUDSCORE_KAFKA_CONFIG: cannot be parsed (a JSON object): Expecting property name",
        ),
    ],
)
def test_each_problem_is_one_line_naming_the_variable_and_the_value(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, expected: str
) -> None:
    (line,) = problems(monkeypatch, **{var: value})
    assert line.startswith(expected), line


def test_secrets_are_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    found = problems(
        monkeypatch,
        FRAUDSCORE_KAFKA_CONFIG='{"sasl.password": 12345}',  # a number where text is expected
        FRAUDSCORE_REDIS_URL="redis://u:hunter2hunter2@h/0",
    )
    assert len(found) == 2
    assert all("12345" not in line and "hunter2" not in line for line in found), found
    assert any(line.startswith("FRAUDSCORE_KAFKA_CONFIG:") for line in found)
    assert any("'redis://u:***@h/0'" in line for line in found)


def test_other_errors_are_not_taken_for_settings() -> None:
    assert settings_problems(ValueError("x")) is None


@pytest.mark.parametrize(
    "env",
    [
        {"FRAUDSCORE_BATCH_MAX_EVENTS": "abc"},
        {"FRAUDSCORE_DELIVERY": "twice"},
        {"FRAUDSCORE_KAFKA_CONFIG": "{bad"},
    ],
)
def test_the_console_prints_one_red_line_and_exits_2(env: dict[str, str]) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FRAUDSCORE_")}
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "worker"],
        cwd=ROOT,
        env={**clean, **env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    (var,) = env
    assert len(lines) == 1 and lines[0].startswith(f"error: {var}"), done.stderr
    assert "Traceback" not in done.stderr
