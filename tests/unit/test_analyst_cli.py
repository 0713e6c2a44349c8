"""The analyst commands with their Kafka edge replaced: wiring, output, one-line errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from analyst import cli, kafka
from analyst.kafka import Delivered
from core.messages import LabelEvent
from core.pan import find_pans
from core.settings import Settings
from tests.unit.test_analyst_alerts import make_alert

runner = CliRunner()
PAN = "4111111111111111"
EVENT = ["tx-1", "--customer", "C1", "--terminal", "T1", "--event-time", "2025-07-01T12:00:00Z"]


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[LabelEvent]:
    """Labels the command would publish (the broker edge is replaced)."""
    labels: list[LabelEvent] = []

    def publish(settings: Settings, label: LabelEvent, *, timeout_s: float = 15.0) -> Delivered:
        labels.append(label)
        return Delivered(settings.topic_labels, 0, 41)

    monkeypatch.setattr(kafka, "publish_label", publish)
    return labels


def feed(monkeypatch: pytest.MonkeyPatch, values: list[bytes | None]) -> dict[str, object]:
    """Replace the alerts topic by ``values``; return the options the command asked for."""
    asked: dict[str, object] = {}

    @contextmanager
    def alert_values(
        settings: Settings, *, from_beginning: bool, idle_timeout_s: float | None
    ) -> Iterator[Iterator[bytes | None]]:
        asked.update(from_beginning=from_beginning, idle=idle_timeout_s)
        yield iter(values)

    monkeypatch.setattr(kafka, "alert_values", alert_values)
    return asked


def assert_one_red_line(result: Result, *absent: str) -> str:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # no traceback, no socket
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert not result.stdout
    for text in absent:
        assert text not in result.output
    return lines[0]


def test_mounting_the_app_brings_both_commands() -> None:
    root = typer.Typer()
    root.add_typer(cli.app)

    @root.command("other")
    def other() -> None: ...

    top = runner.invoke(root, ["--help"])
    assert "label" in top.stdout and "alerts" in top.stdout
    assert "tail" in runner.invoke(root, ["alerts", "--help"]).stdout


@pytest.mark.parametrize("command", [["alerts", "tail"], ["label"]])
def test_every_command_has_help_with_an_example(command: list[str]) -> None:
    result = runner.invoke(cli.app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Examples: fraudscore" in result.stdout


def test_label_prints_what_was_sent(sent: list[LabelEvent]) -> None:
    before = datetime.now(UTC)
    result = runner.invoke(cli.app, ["label", *EVENT, "--fraud"])
    assert result.exit_code == 0, result.output
    (label,) = sent
    assert (label.event_id, label.customer_id, label.terminal_id) == ("tx-1", "C1", "T1")
    assert label.is_fraud and label.source == "analyst"
    assert label.event_time == datetime(2025, 7, 1, 12, tzinfo=UTC)
    assert before - timedelta(seconds=1) <= label.label_time <= datetime.now(UTC)
    assert label.label_time.utcoffset() == timedelta(0)
    first, second = result.stdout.strip().splitlines()
    assert "sent to fraud.labels (partition 0, offset 41): tx-1 labelled FRAUD" in first
    assert LabelEvent.model_validate_json(second) == label


def test_label_legit_with_label_time_and_source(sent: list[LabelEvent]) -> None:
    args = ["label", *EVENT, "--legit", "--label-time", "2025-08-01T00:00:00+02:00"]
    result = runner.invoke(cli.app, [*args, "--source", "chargeback"])
    assert result.exit_code == 0, result.output
    assert not sent[0].is_fraud and sent[0].source == "chargeback"
    assert sent[0].label_time == datetime(2025, 7, 31, 22, tzinfo=UTC)


def test_label_from_a_saved_alert(sent: list[LabelEvent], tmp_path: Path) -> None:
    alert = make_alert(5)
    path = tmp_path / "alert.json"
    path.write_text(alert.model_dump_json() + "\n")
    result = runner.invoke(cli.app, ["label", "--from-alert", str(path), "--fraud"])
    assert result.exit_code == 0, result.output
    got = sent[0]
    assert (got.event_id, got.customer_id, got.terminal_id) == ("tx-5", "C5", "T5")
    assert got.event_time == alert.event_time


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (EVENT, "say --fraud or --legit"),
        (["tx-1", "--fraud", "--customer", "C1", "--terminal", "T1"], "--event-time is required"),
        ([*EVENT[:-1], "2025-07-01 12:00", "--fraud"], "has no UTC offset"),
        ([*EVENT[:-1], "01/07/2025", "--fraud"], "not an ISO 8601 time"),
        ([*EVENT, "--fraud", "--label-time", "2025-06-30T00:00:00Z"], "before the transaction"),
        (["tx-1", "--fraud", "--customer", PAN, *EVENT[3:]], "looks like a card number"),
        (["tx-1", "--fraud", "--customer", "C1", "--terminal", "[red]x", *EVENT[5:]], "pattern"),
        ([PAN, "--fraud", *EVENT[1:]], "invalid EVENT_ID"),
    ],
)
def test_label_errors_are_one_red_line(sent: list[LabelEvent], args: list[str], says: str) -> None:
    line = assert_one_red_line(runner.invoke(cli.app, ["label", *args]), PAN)
    assert says in line
    assert not sent


def test_label_from_alert_errors(sent: list[LabelEvent], tmp_path: Path) -> None:
    path = tmp_path / "alert.json"
    result = runner.invoke(cli.app, ["label", "--from-alert", str(path), "--fraud"])
    assert "does not exist" in assert_one_red_line(result)
    path.write_text(make_alert(5).model_dump_json())
    conflict = ["label", "tx-9", "--from-alert", str(path), "--fraud"]
    line = assert_one_red_line(runner.invoke(cli.app, conflict))
    assert "differs from the alert's event_id" in line
    assert not sent


def test_label_with_a_bad_setting_is_one_red_line(
    sent: list[LabelEvent], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRAUDSCORE_BATCH_MAX_EVENTS", "0")
    line = assert_one_red_line(runner.invoke(cli.app, ["label", *EVENT, "--fraud"]))
    assert "invalid setting batch_max_events" in line


def alerts_feed() -> list[bytes | None]:
    review = make_alert(1, score=0.7)
    block = make_alert(2, score=0.97, tier="block", customer_id=PAN)
    low = make_alert(3, score=0.3)
    return [
        review.model_dump_json().encode(),
        b"{broken",
        block.model_dump_json().encode(),
        review.model_dump_json().encode(),  # redelivered
        low.model_dump_json().encode(),
    ]


def test_tail_json_prints_one_alert_per_line(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = feed(monkeypatch, alerts_feed())
    result = runner.invoke(cli.app, ["alerts", "tail", "--json", "--from-beginning"])
    assert result.exit_code == 0, result.output
    assert asked == {"from_beginning": True, "idle": None}
    lines = result.stdout.splitlines()
    assert [json.loads(line)["alert_id"] for line in lines] == ["al-0001", "al-0002", "al-0003"]
    assert json.loads(lines[1])["customer_id"] == "#" * 16
    assert not find_pans(result.output)
    assert "3 alert(s) shown, 1 duplicate(s) dropped, 0 filtered out, 1 unreadable" in (
        result.stderr
    )


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--min-score", "0.5"], ["al-0001", "al-0002"]),
        (["--tier", "block"], ["al-0002"]),
        (["--tier", "review", "--min-score", "0.5"], ["al-0001"]),
        (["--max", "1"], ["al-0001"]),
    ],
)
def test_tail_filters(
    monkeypatch: pytest.MonkeyPatch, options: list[str], expected: list[str]
) -> None:
    feed(monkeypatch, alerts_feed())
    result = runner.invoke(cli.app, ["alerts", "tail", "--json", *options])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["alert_id"] for line in result.stdout.splitlines()] == expected


def test_tail_table(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = feed(monkeypatch, alerts_feed())
    result = runner.invoke(cli.app, ["alerts", "tail", "--idle-timeout", "2", "--min-score", "0.5"])
    assert result.exit_code == 0, result.output
    assert asked == {"from_beginning": False, "idle": 2.0}
    assert "C1" in result.stdout and "T2" in result.stdout and "C3" not in result.stdout
    assert "block" in result.stdout and "reason 0" in result.stdout
    assert not find_pans(result.output)


def test_tail_rejects_an_unknown_tier() -> None:
    result = runner.invoke(cli.app, ["alerts", "tail", "--tier", "urgent"])
    assert result.exit_code == 2  # click's usage error, before anything connects
