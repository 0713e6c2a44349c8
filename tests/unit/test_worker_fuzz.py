"""Property tests of the input boundary: decode never raises, and no reason echoes a PAN.

Also pins the PAN helpers: ``mask_pans`` leaves nothing ``find_pans`` can see and keeps the
length, and ``luhn_ok`` agrees with an independent reference implementation.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from core.decode import Rejection, decode
from core.messages import TransactionEvent
from core.pan import find_pans, luhn_ok, mask_pans

MAX = 64 * 1024
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FIELDS = (
    "schema_version",
    "event_id",
    "event_time",
    "customer_id",
    "terminal_id",
    "amount",
    "currency",
    "channel",
    "merchant_category",
    "country",
)
GOOD: dict[str, Any] = {
    "event_id": "evt-1",
    "event_time": "2018-04-01T10:15:30+02:00",
    "customer_id": "cust-1",
    "terminal_id": "term-1",
    "amount": 10.5,
    "currency": "EUR",
    "channel": "card_present",
    "merchant_category": "5411",
    "country": "DE",
}


def reference_luhn(digits: str) -> bool:
    """Textbook Luhn: double every second digit from the right, sum the digits, mod 10."""
    total = 0
    for i, d in enumerate(int(c) for c in reversed(digits)):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def with_check_digit(body: str) -> str:
    for check in "0123456789":
        if reference_luhn(body + check):
            return body + check
    raise AssertionError("unreachable: one check digit always fits")


@st.composite
def pans(draw: st.DrawFn) -> str:
    """A Luhn-valid 13-19 digit number, plain or grouped by 4 with spaces or dashes."""
    body = draw(st.text(alphabet="0123456789", min_size=12, max_size=18))
    pan = with_check_digit(body)
    sep = draw(st.sampled_from(["", " ", "-"]))
    return sep.join(pan[i : i + 4] for i in range(0, len(pan), 4))


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | pans()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)
tokenish = st.text(alphabet="abcXYZ0123456789._:-", min_size=1, max_size=70) | pans()


@st.composite
def mutated_events(draw: st.DrawFn) -> bytes:
    """A valid event with a few fields replaced, deleted or added (keys may look like PANs)."""
    body = dict(GOOD)
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        action = draw(st.sampled_from(["set", "set-token", "delete", "add"]))
        if action == "delete" and body:
            body.pop(draw(st.sampled_from(sorted(body))))
        elif action == "add":
            body[draw(st.text(max_size=20) | pans())] = draw(json_values)
        else:
            field = draw(st.sampled_from(FIELDS))
            body[field] = draw(tokenish if action == "set-token" else json_values)
    raw = json.dumps(body).encode()
    if draw(st.booleans()):
        return raw
    # byte-level damage too: cut, insert or overwrite
    pos = draw(st.integers(min_value=0, max_value=len(raw)))
    junk = draw(st.binary(max_size=8))
    return draw(st.sampled_from([raw[:pos], raw[:pos] + junk + raw[pos:], raw[:pos] + junk]))


def check_result(result: object) -> None:
    assert isinstance(result, TransactionEvent | Rejection)
    if isinstance(result, Rejection):
        assert result.stage in ("decode", "validate")
        assert isinstance(result.reason, str) and result.reason
        assert find_pans(result.reason) == [], result.reason
        assert len(result.reason) <= 1100
    else:
        for token in (result.event_id, result.customer_id, result.terminal_id):
            assert find_pans(token) == []
        assert result.event_time.utcoffset() is not None
        assert math.isfinite(result.amount) and 0 <= result.amount <= 1_000_000_000


@FUZZ
@given(st.binary(max_size=600))
def test_decode_arbitrary_bytes(raw: bytes) -> None:
    check_result(decode(raw, max_bytes=MAX))


@FUZZ
@given(mutated_events())
def test_decode_mutated_events(raw: bytes) -> None:
    check_result(decode(raw, max_bytes=MAX))


@FUZZ
@given(json_values)
def test_decode_any_json_document(value: Any) -> None:
    check_result(decode(json.dumps(value).encode(), max_bytes=MAX))


@FUZZ
@given(st.binary(max_size=300), st.integers(min_value=0, max_value=300))
def test_decode_size_limit(raw: bytes, limit: int) -> None:
    result = decode(raw, max_bytes=limit)
    check_result(result)
    if len(raw) > limit:
        assert isinstance(result, Rejection) and "exceeds the limit" in result.reason


def test_mutated_events_strategy_reaches_both_outcomes() -> None:
    """Guard against a vacuous fuzz: the strategy yields good events as well as rejections."""
    seen: set[type] = set()

    @settings(max_examples=60, deadline=None, database=None)
    @given(mutated_events())
    def collect(raw: bytes) -> None:
        seen.add(type(decode(raw, max_bytes=MAX)))

    collect()
    assert seen == {TransactionEvent, Rejection}


# -- PAN helpers ---------------------------------------------------------------------------------

pan_text = st.lists(
    st.text(alphabet="0123456789 -ab#\n", max_size=12) | pans() | st.text(max_size=6), max_size=6
).map("".join)


@FUZZ
@given(pan_text | st.text())
@example("70000 0434 4878 60000-0101-1125-0")  # a card number across a change of separator
def test_mask_pans_leaves_no_pan_and_keeps_length(text: str) -> None:
    masked = mask_pans(text)
    assert len(masked) == len(text)
    assert find_pans(masked) == []
    spans = find_pans(text)
    for start, end in spans:
        assert masked[start:end] == "#" * (end - start)
    kept = [i for i in range(len(text)) if not any(s <= i < e for s, e in spans)]
    assert all(masked[i] == text[i] for i in kept)
    assert mask_pans(masked) == masked


@FUZZ
@given(
    pans(),
    st.sampled_from(["", " ", "x", "card=", '"', "\n"]),
    st.sampled_from(["", " ", "y", '"']),
)
def test_every_generated_pan_is_found_and_masked(pan: str, before: str, after: str) -> None:
    text = f"{before}{pan}{after}"
    assert find_pans(text) == [(len(before), len(before) + len(pan))]
    masked = mask_pans(text)
    assert masked == before + "#" * len(pan) + after
    assert not any(c.isdigit() for c in masked)


@FUZZ
@given(st.text(alphabet="0123456789", max_size=25))
def test_luhn_matches_reference(digits: str) -> None:
    assert luhn_ok(digits) == reference_luhn(digits)


@pytest.mark.parametrize(
    "number,ok",
    [
        ("4111111111111111", True),
        ("4111111111111112", False),
        ("79927398713", True),
        ("79927398710", False),
        ("378282246310005", True),
        ("0", True),
        ("18", True),
        ("19", False),
    ],
)
def test_luhn_known_values(number: str, ok: bool) -> None:
    assert luhn_ok(number) is ok
    assert reference_luhn(number) is ok
