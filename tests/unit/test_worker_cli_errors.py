"""``fraudscore worker``: what stops it prints one line and exits 1, never a traceback."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app
from core.errors import StartupError
from core.kafka import DeliveryFailed
from worker import run as worker_run
from worker.guard import BadInputFlood


@pytest.mark.parametrize(
    ("raised", "says"),
    [
        (StartupError("Kafka at x does not answer"), "Kafka at x does not answer"),
        (BadInputFlood("90% of the last 10 records were bad"), "90% of the last 10"),
        (
            DeliveryFailed("output not acknowledged: Message timed out"),
            "Message timed out; nothing past the last commit was committed, restart the worker",
        ),
    ],
)
def test_a_stopping_error_is_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, raised: Exception, says: str
) -> None:
    def run(*args: Any, **kwargs: Any) -> None:
        raise raised

    monkeypatch.setattr(worker_run, "run", run)
    result = CliRunner().invoke(app, ["worker"], env={"COLUMNS": "300"})
    assert result.exit_code == 1
    assert says in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
