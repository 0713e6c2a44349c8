"""Label validation: times with offsets, PAN-like ids refused, --from-alert merging (no sockets)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from analyst.errors import InputError
from analyst.labels import (
    Transaction,
    Typed,
    build_label,
    describe,
    from_alert,
    merge,
    parse_time,
    read_alert,
)
from core.messages import LabelEvent
from tests.unit.test_analyst_alerts import make_alert

PAN = "4111111111111111"
T0 = datetime(2025, 7, 1, 12, 0, tzinfo=UTC)
NOW = datetime(2025, 7, 20, tzinfo=UTC)


def tx(**changes: object) -> Transaction:
    values: dict[str, object] = {
        "event_id": "tx-1",
        "customer_id": "C1",
        "terminal_id": "T1",
        "event_time": T0,
    }
    values.update(changes)
    return Transaction(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-07-01T12:00:00Z", T0),
        ("2025-07-01T14:00:00+02:00", T0),
        (" 2025-07-01T12:00:00.000+00:00 ", T0),
    ],
)
def test_times_need_an_offset_and_keep_the_instant(text: str, expected: datetime) -> None:
    assert parse_time(text, "--event-time") == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("2025-07-01T12:00:00", "no UTC offset"),
        ("yesterday", "not an ISO 8601 time"),
        ("2025-13-01T00:00:00Z", "not an ISO 8601 time"),
        ("", "not an ISO 8601 time"),
    ],
)
def test_bad_times_are_one_clear_error(text: str, why: str) -> None:
    with pytest.raises(InputError, match=why) as caught:
        parse_time(text, "--event-time")
    assert "--event-time" in str(caught.value)


def test_a_pan_typed_as_time_is_not_echoed() -> None:
    with pytest.raises(InputError) as caught:
        parse_time(PAN, "--event-time")
    assert PAN not in str(caught.value)


def test_build_label_makes_the_wire_message() -> None:
    label = build_label(tx(), is_fraud=True, label_time=NOW, source="analyst")
    assert label == LabelEvent(
        event_id="tx-1",
        event_time=T0,
        label_time=NOW,
        customer_id="C1",
        terminal_id="T1",
        is_fraud=True,
        source="analyst",
    )
    legit = build_label(tx(), is_fraud=False, label_time=NOW, source="chargeback")
    assert not legit.is_fraud and legit.source == "chargeback"


@pytest.mark.parametrize(
    ("field", "option"),
    [("customer_id", "--customer"), ("terminal_id", "--terminal"), ("event_id", "EVENT_ID")],
)
@pytest.mark.parametrize("pan", [PAN, "4111 1111 1111 1111", "5555-5555-5555-4444"])
def test_pan_looking_ids_are_rejected_without_echo(field: str, option: str, pan: str) -> None:
    with pytest.raises(InputError) as caught:
        build_label(tx(**{field: pan}), is_fraud=True, label_time=NOW, source="analyst")
    message = str(caught.value)
    assert option in message
    assert pan not in message and "4111" not in message and "5555" not in message


def test_pan_check_names_the_problem() -> None:
    with pytest.raises(InputError, match="looks like a card number"):
        build_label(tx(customer_id=PAN), is_fraud=True, label_time=NOW, source="analyst")


@pytest.mark.parametrize("bad", ["", "has space", "x" * 65, "t/1"])
def test_malformed_tokens_are_rejected(bad: str) -> None:
    with pytest.raises(InputError, match="--terminal"):
        build_label(tx(terminal_id=bad), is_fraud=True, label_time=NOW, source="analyst")


def test_a_label_cannot_predate_its_transaction() -> None:
    with pytest.raises(InputError, match="before the transaction"):
        build_label(tx(), is_fraud=True, label_time=T0 - timedelta(seconds=1), source="analyst")
    same = build_label(tx(), is_fraud=True, label_time=T0, source="analyst")
    assert same.label_time == same.event_time


def test_merge_takes_typed_values_or_the_alerts() -> None:
    complete = Typed("tx-1", "C1", "T1", T0)
    assert merge(complete, None) == tx()
    saved = from_alert(make_alert(7))
    assert merge(Typed(), saved) == saved
    assert merge(Typed(event_id="tx-7", terminal_id="T7"), saved) == saved


def test_merge_accepts_the_same_instant_in_another_offset() -> None:
    saved = tx()
    other_offset = T0.astimezone(timezone(timedelta(hours=-5)))
    assert merge(Typed(event_time=other_offset), saved).event_time == T0


@pytest.mark.parametrize(
    ("typed", "option"),
    [
        (Typed("tx-1", "C1", "T1"), "--event-time"),
        (Typed("tx-1", "C1", None, T0), "--terminal"),
        (Typed(None, "C1", "T1", T0), "EVENT_ID"),
        (Typed("tx-1", None, "T1", T0), "--customer"),
    ],
)
def test_merge_names_what_is_missing(typed: Typed, option: str) -> None:
    with pytest.raises(InputError, match=f"{option} is required"):
        merge(typed, None)


def test_merge_refuses_a_typed_value_that_contradicts_the_alert() -> None:
    with pytest.raises(InputError, match="--terminal 'T9' differs from the alert's terminal_id"):
        merge(Typed(terminal_id="T9"), tx())
    with pytest.raises(InputError, match="--event-time"):
        merge(Typed(event_time=T0 + timedelta(hours=1)), tx())


def test_read_alert_file(tmp_path: Path) -> None:
    alert = make_alert(3)
    path = tmp_path / "alert.json"
    path.write_text(alert.model_dump_json() + "\n")
    assert read_alert(path) == alert


def test_read_alert_accepts_pretty_printed_json(tmp_path: Path) -> None:
    alert = make_alert(3)
    path = tmp_path / "alert.json"
    path.write_text(alert.model_dump_json(indent=2))
    assert read_alert(path) == alert


@pytest.mark.parametrize(
    "content",
    ["", "{not json", '{"alert_id": "al-1"}', make_alert(1).model_dump_json() * 2],
)
def test_read_alert_refuses_anything_but_one_alert(tmp_path: Path, content: str) -> None:
    path = tmp_path / "alert.json"
    path.write_text(content)
    with pytest.raises(InputError, match="is not one alert"):
        read_alert(path)


def test_read_alert_of_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        read_alert(tmp_path / "nope.json")


def test_describe_says_the_verdict() -> None:
    fraud = build_label(tx(), is_fraud=True, label_time=NOW, source="analyst")
    assert "tx-1 labelled FRAUD (analyst)" in describe(fraud)
    assert "terminal T1" in describe(fraud)
    legit = build_label(tx(), is_fraud=False, label_time=NOW, source="chargeback")
    assert "labelled legit (chargeback)" in describe(legit)
