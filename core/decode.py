"""Decode and validate raw Kafka values: bad input is data, never an exception.

``decode`` returns either a ``TransactionEvent`` or a ``Rejection`` that carries the reason and
the stage. Anything the bytes can do (invalid UTF-8, 1,000-deep nesting that makes a recursive
parser raise ``RecursionError``, 2 MB values, numbers beyond float range) ends as a rejection.
Reasons are built from pydantic's error locations and messages without the input values, then
PAN-masked, so a dead letter can never echo a card number back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from core.messages import TransactionEvent
from core.pan import mask_pans


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: str
    stage: Literal["decode", "validate", "store", "duplicate"]


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_input=False, include_url=False)[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "event"
        parts.append(f"{loc}: {err['msg']}")
    # masked before the cut (a card number across it keeps no digits) and after it (a longer
    # digit run cut to a card number's length)
    return mask_pans(mask_pans("; ".join(parts))[:1000])


class _Duplicate(Exception):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


def duplicate_key(value: bytes) -> str | None:
    """A key repeated in a JSON object of ``value``, if any (JSON parsers keep the last one,
    so ``{"amount": 1, "amount": 9000}`` would be scored on either, silently)."""
    try:
        json.loads(value, object_pairs_hook=_pairs)
    except _Duplicate as dup:
        return str(dup)
    except (ValueError, RecursionError):
        return None  # not JSON: the decoder says why
    return None


_WHITESPACE = b" \t\n\r"  # what JSON allows between a key and its colon


def _may_repeat(value: bytes, ev: TransactionEvent) -> bool:
    """False when ``value`` certainly has no repeated key, for the price of two byte scans.

    A valid event's strings hold no quote, so with JSON's whitespace taken out every key, and
    nothing else, ends in ``":``: as many of them as fields set means no key was given twice.
    """
    return value.translate(None, _WHITESPACE).count(b'":') != len(ev.__pydantic_fields_set__)


def decode(value: bytes | None, *, max_bytes: int) -> TransactionEvent | Rejection:
    """One raw value to an event, or to the reason it cannot be one."""
    if value is None:
        return Rejection("empty value (tombstone)", "decode")
    if len(value) > max_bytes:
        return Rejection(f"value of {len(value)} bytes exceeds the limit of {max_bytes}", "decode")
    try:
        # JSON mode keeps strict types (no "12" for 12) and parses ISO datetimes; pydantic's
        # parser bounds nesting depth itself and reports bad UTF-8 as invalid JSON.
        ev = TransactionEvent.model_validate_json(value)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            return Rejection(f"not valid JSON: {_describe(exc)}", "decode")
        if any(e["type"] == "model_type" for e in exc.errors()):
            return Rejection("expected a JSON object", "decode")
        return Rejection(_describe(exc), "validate")
    except (RecursionError, ValueError) as exc:  # defensive: never let input crash the worker
        return Rejection(f"undecodable value: {type(exc).__name__}", "decode")
    if _may_repeat(value, ev) and (dup := duplicate_key(value)) is not None:
        return Rejection(f"duplicate key {mask_pans(dup)!r}: the event is ambiguous", "validate")
    return ev
