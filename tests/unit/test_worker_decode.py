"""decode(): a good event round-trips; every poison pill of reliability.md row 5 is a Rejection.

Every rejection must have a sensible stage and a reason that never echoes a card number (PAN).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from core.decode import Rejection, decode
from core.messages import TransactionEvent
from core.pan import find_pans, luhn_ok

MAX = 64 * 1024
PAN = "4111111111111111"  # Visa test number, Luhn-valid
PAN_SPACED = "4111 1111 1111 1111"
PAN_DASHED = "5555-5555-5555-4444"

GOOD: dict[str, Any] = {
    "schema_version": 1,
    "event_id": "evt-0001",
    "event_time": "2018-04-01T10:15:30.250000+02:00",
    "customer_id": "cust_42",
    "terminal_id": "term:7",
    "amount": 57.19,
    "currency": "EUR",
    "channel": "ecommerce",
    "merchant_category": "5411",
    "country": "FR",
}


def event_bytes(**changes: Any) -> bytes:
    return json.dumps({**GOOD, **changes}).encode()


def digit_runs_pan_like(text: str) -> list[str]:
    """Independent scanner: contiguous ASCII digit runs of 13-19 digits passing Luhn."""
    return [m for m in re.findall(r"(?<![0-9])[0-9]{13,19}(?![0-9])", text) if luhn_ok(m)]


def rejected(value: bytes | None, stage: str, *, max_bytes: int = MAX) -> Rejection:
    result = decode(value, max_bytes=max_bytes)
    assert isinstance(result, Rejection), result
    assert result.stage == stage, result
    assert result.reason
    assert find_pans(result.reason) == [], result.reason
    assert PAN not in result.reason
    return result


# -- good events ---------------------------------------------------------------------------------


def test_good_event_round_trips() -> None:
    ev = decode(event_bytes(), max_bytes=MAX)
    assert isinstance(ev, TransactionEvent)
    assert ev.event_id == "evt-0001"
    assert ev.event_time == datetime(2018, 4, 1, 8, 15, 30, 250000, tzinfo=UTC)
    assert ev.event_time.utcoffset() == timedelta(hours=2)
    assert ev.amount == 57.19
    assert ev.channel == "ecommerce"
    again = decode(ev.model_dump_json().encode(), max_bytes=MAX)
    assert again == ev


def test_optional_fields_default() -> None:
    minimal = {k: GOOD[k] for k in ("event_id", "event_time", "customer_id", "terminal_id")}
    ev = decode(json.dumps({**minimal, "amount": 12}).encode(), max_bytes=MAX)
    assert isinstance(ev, TransactionEvent)
    assert (ev.schema_version, ev.currency, ev.channel, ev.country) == (1, "EUR", None, None)
    assert ev.amount == 12.0


def test_value_exactly_at_limit_is_decoded() -> None:
    raw = event_bytes()
    assert isinstance(decode(raw, max_bytes=len(raw)), TransactionEvent)
    rejected(raw, "decode", max_bytes=len(raw) - 1)


# -- poison pills (reliability.md row 5) ---------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b'{"event_id": "e1",',
        b"{'event_id': 'e1'}",
        b"",
        b"   ",
        b"\x00\x01\x02",
        b'{"event_id": "e1"} trailing',
        event_bytes()[:-1],
    ],
    ids=["truncated", "single-quotes", "empty", "blank", "binary", "trailing", "cut"],
)
def test_invalid_json(raw: bytes) -> None:
    assert rejected(raw, "decode").reason.startswith("not valid JSON")


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe\xfd",
        b'{"event_id": "\xc3\x28"}',
        event_bytes().replace(b"cust_42", b"cust_\xe9"),
    ],
    ids=["garbage", "bad-continuation", "latin1-in-field"],
)
def test_invalid_utf8(raw: bytes) -> None:
    rejected(raw, "decode")


@pytest.mark.parametrize("opener,closer", [(b"[", b"]"), (b'{"a":', b"}")])
def test_thousand_deep_nesting(opener: bytes, closer: bytes) -> None:
    raw = opener * 1000 + b"1" + closer * 1000
    rejected(raw, "decode")


def test_deep_nesting_inside_an_otherwise_good_event() -> None:
    raw = event_bytes()[:-1] + b', "x": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    rejected(raw, "decode")


@pytest.mark.parametrize("number", ["1e999", "-1e999", "1" + "0" * 400, "-" + "9" * 400])
def test_huge_numbers(number: str) -> None:
    raw = event_bytes().replace(b"57.19", number.encode())
    assert number.encode() in raw
    rej = rejected(raw, "validate")
    assert rej.reason.startswith("amount")


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "-0.01", "1000000000.01"])
def test_non_finite_or_out_of_range_amount(number: str) -> None:
    raw = event_bytes().replace(b"57.19", number.encode())
    assert "amount" in rejected(raw, "validate").reason


def test_two_megabyte_value_over_the_limit() -> None:
    raw = event_bytes(event_id="e" * 10)[:-1] + b', "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    rej = rejected(raw, "decode")
    assert str(len(raw)) in rej.reason
    assert str(MAX) in rej.reason
    assert len(rej.reason) < 200


@pytest.mark.parametrize(
    "field,value",
    [
        ("amount", "57.19"),
        ("amount", True),
        ("amount", None),
        ("amount", [57.19]),
        ("event_id", 1),
        ("customer_id", 42),
        ("terminal_id", {"id": "t"}),
        ("event_time", 1522570530),
        ("event_time", "yesterday"),
        ("schema_version", 2),
        ("schema_version", "1"),
        ("currency", "eur"),
        ("channel", "phone"),
        ("merchant_category", 5411),
        ("country", "FRA"),
        ("event_id", ""),
        ("event_id", "x" * 65),
        ("customer_id", "has space"),
    ],
)
def test_wrong_types_and_values(field: str, value: Any) -> None:
    rej = rejected(event_bytes(**{field: value}), "validate")
    assert rej.reason.startswith(field), rej.reason


@pytest.mark.parametrize(
    "field", ["event_id", "event_time", "customer_id", "terminal_id", "amount"]
)
def test_missing_required_field(field: str) -> None:
    body = {k: v for k, v in GOOD.items() if k != field}
    rej = rejected(json.dumps(body).encode(), "validate")
    assert field in rej.reason


@pytest.mark.parametrize("raw", [b"[]", b'"event"', b"42", b"null", b"true"])
def test_json_that_is_not_an_object(raw: bytes) -> None:
    rejected(raw, "decode")


def test_tombstone() -> None:
    assert "tombstone" in rejected(None, "decode").reason


@pytest.mark.parametrize("key", ["extra", "merchant", "Amount", PAN, PAN_SPACED, PAN_DASHED])
def test_unknown_fields(key: str) -> None:
    rej = rejected(event_bytes(**{key: "v"}), "validate")
    assert "Extra inputs are not permitted" in rej.reason
    assert digit_runs_pan_like(rej.reason.replace(" ", "").replace("-", "")) == []


@pytest.mark.parametrize("field", ["customer_id", "terminal_id", "event_id"])
@pytest.mark.parametrize(
    "value",
    [
        PAN,
        "5555555555554444",
        "378282246310005",  # Amex, 15 digits
        "4222222222222",  # 13 digits
        "6011000990139424",
        PAN_DASHED,
        "tok:4111111111111111",
        "4111111111111111.x",
    ],
)
def test_pan_looking_ids_are_rejected(field: str, value: str) -> None:
    rej = rejected(event_bytes(**{field: value}), "validate")
    assert rej.reason.startswith(field)
    assert "card number" in rej.reason
    assert value not in rej.reason


@pytest.mark.parametrize("value", ["4111111111111112", "123456789012", "12345678901234567890"])
def test_long_digit_ids_that_are_not_pans_are_accepted(value: str) -> None:
    assert not find_pans(value)
    ev = decode(event_bytes(customer_id=value), max_bytes=MAX)
    assert isinstance(ev, TransactionEvent)
    assert ev.customer_id == value


def test_pan_value_in_wrong_type_field_is_not_echoed() -> None:
    rej = rejected(event_bytes(amount=PAN), "validate")
    assert rej.reason.startswith("amount")


def test_many_errors_reason_is_bounded_and_masked() -> None:
    body = {f"{PAN}{'x' * i}": i for i in range(50)} | {PAN: 1}
    rej = rejected(json.dumps(body).encode(), "validate")
    assert len(rej.reason) <= 1000


# -- timezones ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "when", ["2018-04-01T10:15:30", "2018-04-01T10:15:30.123", "2018-04-01 10:15:30", "2018-04-01"]
)
def test_timezone_less_event_time_is_rejected(when: str) -> None:
    rej = rejected(event_bytes(event_time=when), "validate")
    assert rej.reason.startswith("event_time")


@pytest.mark.parametrize(
    "when,offset",
    [
        ("2018-04-01T10:15:30Z", 0),
        ("2018-04-01T10:15:30-05:30", -330),
        ("2018-04-01T10:15:30+14:00", 840),
    ],
)
def test_event_time_keeps_its_offset(when: str, offset: int) -> None:
    ev = decode(event_bytes(event_time=when), max_bytes=MAX)
    assert isinstance(ev, TransactionEvent)
    assert ev.event_time.utcoffset() == timedelta(minutes=offset)
    local = datetime(2018, 4, 1, 10, 15, 30, tzinfo=timezone(timedelta(minutes=offset)))
    assert ev.event_time == local


# -- regressions found by this suite ---------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["1-5555555555554444", "5555555555554444-1", "12-4111111111111111"]
)
def test_pan_joined_to_other_digits_by_a_dash_is_rejected(value: str) -> None:
    assert digit_runs_pan_like(value)  # the independent scanner sees a PAN
    assert find_pans(value)
    rejected(event_bytes(customer_id=value), "validate")


def test_truncated_reason_contains_no_pan() -> None:
    key = "x" * 984 + PAN + "0000"  # 20 digits: not PAN-like until cut after 16
    assert find_pans(key) == []
    rejected(event_bytes(**{key: 1}), "validate")
