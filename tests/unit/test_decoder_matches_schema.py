"""The worker's decoder is exactly as strict as the published schema (``schemas/``).

A producer validates against ``schemas/transaction.v1.json``; the worker decodes with pydantic.
They must agree on every event, or an upstream that passes its own validation is dead-lettered
(or worse, the worker accepts what the contract forbids). Hypothesis builds events field by field
from valid and invalid values, and a real JSON Schema validator (``jsonschema``, with RFC 3339
``date-time``) judges each against the checked-in schema; the decoder must give the same verdict.

Two rules only the decoder can apply, and the schema says so in words: no card numbers (the Luhn
check is not expressible in JSON Schema) and no repeated keys (a JSON parser keeps the last one
before any schema sees the object). Both are tested on their own below.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, ValidationError, validators

from core.decode import Rejection, decode
from core.pan import find_pans

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "schemas" / "transaction.v1.json").read_text()
)


def _ecma_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    """``pattern`` as JSON Schema means it (ECMA-262): "$" is the end of the text. Python's "$"
    also matches before a final newline, so "x\n" would pass "^[a-z]+$" in Python alone."""
    if not isinstance(instance, str):
        return
    python = pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern
    if not re.search(python, instance, flags=re.ASCII):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


Ecma = validators.extend(Draft202012Validator, {"pattern": _ecma_pattern})
VALIDATOR = Ecma(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
MISSING = object()
TOKEN_CHARS = "abcXYZ019._:-"

tokens = st.one_of(
    st.text(alphabet=TOKEN_CHARS, min_size=1, max_size=64),
    st.text(alphabet=TOKEN_CHARS, min_size=65, max_size=70),
    st.sampled_from(["", "a b", "a/b", "é", "x\n", "ｃ１"]),
    st.integers(-5, 5),
    st.none(),
)
TIMES = [
    "2018-05-01T00:00:00Z",
    "2018-05-01T00:00:00.5+02:00",
    "2018-05-01t00:00:00z",
    "2018-05-01T00:00:00-00:00",
    # what pydantic alone took and RFC 3339 does not
    "1525132800",
    "1525132800.5",
    "2018-05-01 00:00:00Z",
    "2018-05-01T00:00Z",
    "2018-05-01T00:00:00+0000",
    "2018-05-01T00:00:00,5Z",
    # rejected by both
    "2018-05-01T00:00:00",
    "2018-05-01",
    "2018-13-01T00:00:00Z",
    "2018-05-01T25:00:00Z",
]
fields: dict[str, st.SearchStrategy[Any]] = {
    "schema_version": st.sampled_from([MISSING, 1, 2, "1", None]),
    "event_id": tokens,
    "event_time": st.sampled_from(TIMES) | st.integers(0, 2_000_000_000) | st.none(),
    "customer_id": tokens,
    "terminal_id": tokens,
    "amount": st.one_of(
        st.floats(-10, 2e9, allow_nan=False),
        st.integers(-1, 10**10),
        st.sampled_from(["12.5", True, None]),
    ),
    "currency": st.sampled_from([MISSING, "EUR", "usd", "EURO", "E1R", 978, None]),
    "channel": st.sampled_from([MISSING, "card_present", "ecommerce", "atm", None, 1]),
    "merchant_category": st.sampled_from([MISSING, "5411", "541", "54111", "５４１１", None, 5411]),
    "country": st.sampled_from([MISSING, "FR", "fr", "FRA", "F1", None]),
    "coupon": st.sampled_from([MISSING, MISSING, MISSING, "SPRING"]),
}
GOOD = {
    "event_id": "tx-1",
    "event_time": "2018-05-01T00:00:00Z",
    "customer_id": "c1",
    "terminal_id": "t1",
    "amount": 12.5,
}
REQUIRED = {"event_id", "event_time", "customer_id", "terminal_id", "amount"}


valid: dict[str, st.SearchStrategy[Any]] = {
    "event_id": st.text(alphabet=TOKEN_CHARS, min_size=1, max_size=64),
    "event_time": st.sampled_from(TIMES[:4]),
    "customer_id": st.text(alphabet=TOKEN_CHARS, min_size=1, max_size=64),
    "terminal_id": st.text(alphabet=TOKEN_CHARS, min_size=1, max_size=64),
    "amount": st.floats(0, 1e9, allow_nan=False) | st.integers(0, 10**9),
}


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event with none, one or a few fields drawn from anything (valid or not), or a
    field left out: a third of the examples are valid events, the rest near misses."""
    doc: dict[str, Any] = {name: draw(strategy) for name, strategy in valid.items()}
    for name in draw(st.lists(st.sampled_from(sorted(fields)), max_size=3, unique=True)):
        doc[name] = draw(fields[name])
    for name in REQUIRED:
        if draw(st.integers(0, 15)) == 0:
            doc[name] = MISSING
    return {k: v for k, v in doc.items() if v is not MISSING}


def strings(doc: dict[str, Any]) -> list[str]:
    return [v for v in doc.values() if isinstance(v, str)]


@settings(max_examples=1500, deadline=None)
@given(events())
def test_the_decoder_and_the_schema_agree(doc: dict[str, Any]) -> None:
    assume(not any(find_pans(s) for s in strings(doc)))  # the one rule the schema cannot state
    accepted = not isinstance(decode(json.dumps(doc).encode(), max_bytes=1 << 20), Rejection)
    ok = VALIDATOR.is_valid(doc)
    event("valid" if ok else "invalid")  # hypothesis statistics: both kinds are generated
    problems = [e.message for e in VALIDATOR.iter_errors(doc)][:3]
    assert accepted == ok, f"decoder {'accepts' if accepted else 'rejects'}: {doc} {problems}"


@pytest.mark.parametrize("when", TIMES[:4])
def test_valid_events_are_valid_for_both(when: str) -> None:
    doc = {**GOOD, "event_time": when, "merchant_category": "5411", "country": "FR"}
    assert VALIDATOR.is_valid(doc)
    assert not isinstance(decode(json.dumps(doc).encode(), max_bytes=1 << 20), Rejection)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"event_id":"tx-1","event_time":"2018-05-01T00:00:00Z","customer_id":"c1",'
        b'"terminal_id":"t1","amount":1,"amount":9000}',
        b'{"event_id":"tx-1","event_time":"2018-05-01T00:00:00Z","customer_id":"c1",'
        b'"terminal_id":"t1","amount":1,"\\u0061mount":9000}',  # the same key, escaped
        b'{"event_id":"tx-1","event_id":"tx-2","event_time":"2018-05-01T00:00:00Z",'
        b'"customer_id":"c1","terminal_id":"t1","amount":1}',
        b'{"event_id":"tx-1","event_time":"2018-05-01T00:00:00Z","customer_id":"c1",'
        b'"terminal_id":"t1","amount":1,"amount" \t\n: 9000}',  # whitespace before the colon
    ],
)
def test_a_repeated_key_is_refused_not_silently_resolved(raw: bytes) -> None:
    result = decode(raw, max_bytes=1 << 20)
    assert isinstance(result, Rejection) and result.stage == "validate"
    assert "duplicate key" in result.reason


def test_a_field_name_used_as_a_value_is_no_duplicate() -> None:
    doc = {**GOOD, "customer_id": "amount", "terminal_id": "amount"}
    raw = json.dumps(doc).encode()
    assert raw.count(b'"amount"') == 3
    assert not isinstance(decode(raw, max_bytes=1 << 20), Rejection)
