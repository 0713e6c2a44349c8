"""The wire vocabulary: every message fraudscore reads or writes, as frozen pydantic models.

The JSON Schema files in ``schemas/`` are generated from these classes
(``fraudscore schema export``) and a test fails when they are stale, so the published contract
and the code cannot drift apart. Changes follow one rule: a new field is optional with a default,
so events valid under an older schema version stay valid.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1

_DIGIT_RUN = re.compile(r"\d+(?:[ -]\d+)*")
_GROUP = re.compile(r"\d+")
_CANDIDATE = re.compile(r"\d(?:[ -]?\d){12}")  # cheap pre-check: 13 digits, maybe grouped


def luhn_ok(digits: str) -> bool:
    """Luhn checksum of a string of digits (card numbers pass it)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def find_pans(text: str) -> list[tuple[int, int]]:
    """Spans of PAN-like runs: 13-19 digits passing Luhn, possibly grouped by spaces or dashes.

    A run of digit groups ("4111 1111 1111 1111", "1-5555555555554444") is checked for every
    contiguous sequence of whole groups with 13-19 digits, so a card number joined to other
    digits by a separator is still found.
    """
    spans: list[tuple[int, int]] = []
    if _CANDIDATE.search(text) is None:
        return spans
    for run in _DIGIT_RUN.finditer(text):
        groups = [
            (g.start() + run.start(), g.end() + run.start()) for g in _GROUP.finditer(run.group())
        ]
        spans.extend(_pan_groups(text, groups))
    return spans


def _pan_groups(text: str, groups: list[tuple[int, int]]) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    i = 0
    while i < len(groups):
        hit = None
        for j in range(i, len(groups)):
            digits = "".join(text[a:b] for a, b in groups[i : j + 1])
            if len(digits) > 19:
                break
            if len(digits) >= 13 and luhn_ok(digits):
                hit = j
        if hit is None:
            i += 1
            continue
        found.append((groups[i][0], groups[hit][1]))
        i = hit + 1
    return found


def mask_pans(text: str) -> str:
    """Replace every PAN-like run by '#' characters (length kept, no digit kept).

    JSON text may spell digits as escapes (``\\u0034`` is "4"): runs are also looked for in
    the text with those escapes read, and masked where they are written, so an escaped card
    number is masked like a plain one.
    """
    spans = find_pans(text) if "\\u00" not in text else _escaped_spans(text)
    if not spans:
        return text
    out, last = [], 0
    for start, end in spans:
        out.append(text[last:start])
        out.append("#" * (end - start))
        last = end
    out.append(text[last:])
    return "".join(out)


_ESCAPE = re.compile(r"\\u00(3[0-9]|2[0dD])")  # an escaped digit, space or dash


def _escaped_spans(text: str) -> list[tuple[int, int]]:
    """PAN spans of ``text`` with digit/space/dash escapes read, as spans of ``text`` itself."""
    view: list[str] = []
    where: list[int] = []  # raw start of each view character
    i = 0
    for m in _ESCAPE.finditer(text):
        view.append(text[i : m.start()])
        where.extend(range(i, m.start()))
        view.append(chr(int(m[1], 16)))
        where.append(m.start())
        i = m.end()
    view.append(text[i:])
    where.extend(range(i, len(text)))
    where.append(len(text))
    decoded = "".join(view)

    def raw_end(view_end: int) -> int:
        start = where[view_end - 1]
        m = _ESCAPE.match(text, start)
        return m.end() if m else start + 1

    return [(where[a], raw_end(b)) for a, b in find_pans(decoded)]


def _no_pan(value: str) -> str:
    if find_pans(value):
        raise ValueError("looks like a card number (PAN); send a token instead")
    return value


Token = Annotated[
    str,
    Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$"),
    AfterValidator(_no_pan),
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class TransactionEvent(_Frozen):
    """A payment transaction, produced by upstream payment systems to ``payments.transactions``.

    Key the Kafka record by ``customer_id`` so one customer's events stay in order on one
    partition (the customer windows depend on it).
    """

    schema_version: Literal[1] = Field(1, description="Contract version of this event")
    event_id: Token = Field(description="Unique id of the transaction; the idempotency key")
    event_time: AwareDatetime = Field(
        description="When the transaction happened, ISO 8601 with a UTC offset"
    )
    customer_id: Token = Field(description="Opaque card/customer token (never a card number)")
    terminal_id: Token = Field(description="Terminal or merchant id")
    amount: float = Field(ge=0, le=1_000_000_000, allow_inf_nan=False, description="Amount")
    currency: str = Field("EUR", pattern=r"^[A-Z]{3}$", description="ISO 4217 currency code")
    channel: Literal["card_present", "ecommerce"] | None = Field(None, description="Channel")
    merchant_category: str | None = Field(None, pattern=r"^\d{4}$", description="ISO 18245 MCC")
    country: str | None = Field(None, pattern=r"^[A-Z]{2}$", description="ISO 3166 alpha-2")


class Reason(_Frozen):
    """One contributing feature of an alert, with a sentence an analyst can read."""

    feature: str
    value: float
    contribution: float = Field(description="Contribution to the log-odds (TreeSHAP)")
    text: str


class Alert(_Frozen):
    """A flagged transaction on ``fraud.alerts``. Never carries a card number."""

    alert_id: str = Field(description="Deterministic: the same event always gives the same id")
    event_id: str
    event_time: datetime
    customer_id: str
    terminal_id: str
    amount: float
    currency: str
    score: float
    threshold: float
    tier: Literal["review", "block"]
    model_version: str
    reasons: tuple[Reason, ...]
    degraded: bool = Field(False, description="Scored with default features (Redis unavailable)")


class ScoreRecord(_Frozen):
    """The audit record of one scored event on ``fraud.scores``: every good event gets one."""

    event_id: str
    event_time: datetime
    customer_id: str
    topic: str
    partition: int
    offset: int
    score: float
    model_version: str
    alerted: bool
    degraded: bool = False
    challenger_version: str | None = Field(
        None, description="Shadow model scored on the same features; never affects alerts"
    )
    challenger_score: float | None = None


class Sample(_Frozen):
    """A sampled event's feature vector and score on ``fraud.samples``, for drift monitoring."""

    event_id: str
    event_time: datetime
    model_version: str
    score: float
    features: dict[str, float]


class LabelEvent(_Frozen):
    """A fraud/legit decision on ``fraud.labels`` (chargeback, analyst, or the simulator)."""

    event_id: Token
    event_time: AwareDatetime = Field(description="Event time of the labelled transaction")
    label_time: AwareDatetime = Field(description="When the label became known")
    customer_id: Token
    terminal_id: Token
    is_fraud: bool
    source: Literal["chargeback", "analyst", "simulator"] = "simulator"


class DeadLetter(_Frozen):
    """What a dead letter says, carried as Kafka headers next to the masked original bytes."""

    reason: str
    stage: Literal["decode", "validate"]
    origin_topic: str
    origin_partition: int
    origin_offset: int
    origin_timestamp_ms: int
    value_bytes: int | None = Field(
        None, description="Set when the value was cut: the original value's length in bytes"
    )


WIRE_MODELS: dict[str, type[BaseModel]] = {
    "transaction": TransactionEvent,
    "alert": Alert,
    "score": ScoreRecord,
    "sample": Sample,
    "label": LabelEvent,
    "dead_letter": DeadLetter,
}
