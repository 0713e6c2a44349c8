"""``fraudscore topics``: the service's own topic creation (compose's init, no devstack needed)."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from typer.testing import CliRunner

from cli import topics as topics_cli
from cli.main import app
from core.topics import DEFAULT_TOPICS, TopicError, TopicSpec


def test_creates_what_is_missing_and_lists_every_topic(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def ensure(bootstrap: str, specs: Iterable[TopicSpec], timeout_s: float) -> list[str]:
        asked.append(bootstrap)
        return [DEFAULT_TOPICS[0].name]

    monkeypatch.setattr(topics_cli, "ensure_topics", ensure)
    result = CliRunner().invoke(app, ["topics", "--bootstrap", "kafka:9092"])
    assert result.exit_code == 0, result.output
    assert asked == ["kafka:9092"]
    lines = result.output.splitlines()
    assert len(lines) == len(DEFAULT_TOPICS)
    assert lines[0].endswith("created") and all(line.endswith("exists") for line in lines[1:])


def test_a_broker_that_refuses_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def ensure(bootstrap: str, specs: Iterable[TopicSpec], timeout_s: float) -> list[str]:
        raise TopicError("cannot create topic 'fraud.alerts' on the broker: denied")

    monkeypatch.setattr(topics_cli, "ensure_topics", ensure)
    result = CliRunner().invoke(app, ["topics"], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert (
        result.output.strip() == "error: cannot create topic 'fraud.alerts' on the broker: denied"
    )
