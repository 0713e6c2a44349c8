"""Decode and validate raw Kafka values: bad input is data, never an exception.

``decode`` returns either a ``TransactionEvent`` or a ``Rejection`` that carries the reason and
the stage. Anything the bytes can do (invalid UTF-8, 1,000-deep nesting that makes a recursive
parser raise ``RecursionError``, 2 MB values, numbers beyond float range) ends as a rejection.
Reasons are built from pydantic's error locations and messages without the input values, then
PAN-masked, so a dead letter can never echo a card number back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import ValidationError

from core.messages import TransactionEvent
from core.pan import mask_pans


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: str
    stage: Literal["decode", "validate", "store"]


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_input=False, include_url=False)[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "event"
        parts.append(f"{loc}: {err['msg']}")
    # masked before the cut (a card number across it keeps no digits) and after it (a longer
    # digit run cut to a card number's length)
    return mask_pans(mask_pans("; ".join(parts))[:1000])


def decode(value: bytes | None, *, max_bytes: int) -> TransactionEvent | Rejection:
    """One raw value to an event, or to the reason it cannot be one."""
    if value is None:
        return Rejection("empty value (tombstone)", "decode")
    if len(value) > max_bytes:
        return Rejection(f"value of {len(value)} bytes exceeds the limit of {max_bytes}", "decode")
    try:
        # JSON mode keeps strict types (no "12" for 12) and parses ISO datetimes; pydantic's
        # parser bounds nesting depth itself and reports bad UTF-8 as invalid JSON.
        return TransactionEvent.model_validate_json(value)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            return Rejection(f"not valid JSON: {_describe(exc)}", "decode")
        if any(e["type"] == "model_type" for e in exc.errors()):
            return Rejection("expected a JSON object", "decode")
        return Rejection(_describe(exc), "validate")
    except (RecursionError, ValueError) as exc:  # defensive: never let input crash the worker
        return Rejection(f"undecodable value: {type(exc).__name__}", "decode")
