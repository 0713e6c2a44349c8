"""The wire vocabulary: every message fraudscore reads or writes, as frozen pydantic models.

The JSON Schema files in ``schemas/`` are generated from these classes
(``fraudscore schema export``) and a test fails when they are stale, so the published contract
and the code cannot drift apart. Changes follow one rule: a new field is optional with a default,
so events valid under an older schema version stay valid.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from core.pan import find_pans

SCHEMA_VERSION = 1


def _no_pan(value: str) -> str:
    if find_pans(value):
        raise ValueError("looks like a card number (PAN); send a token instead")
    return value


Token = Annotated[
    str,
    Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$"),
    AfterValidator(_no_pan),
]


# RFC 3339 date-time, what the schema's "format": "date-time" means: seconds, "T", an offset
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def _rfc3339(value: object) -> object:
    """Text must be RFC 3339 (pydantic alone also takes epoch seconds, a space for the "T", no
    seconds, "+0000" and a comma fraction, which the published schema rejects); it is read here,
    since a strict model takes no text for a datetime once a validator has seen it."""
    if not isinstance(value, str):
        return value
    if not _RFC3339.fullmatch(value):
        raise ValueError("expected an RFC 3339 date-time, e.g. 2024-05-01T14:03:22+02:00")
    return datetime.fromisoformat(value.upper().replace("Z", "+00:00"))


Instant = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class TransactionEvent(_Frozen):
    """A payment transaction, produced by upstream payment systems to ``payments.transactions``.

    Key the Kafka record by ``customer_id`` so one customer's events stay in order on one
    partition (the customer windows depend on it).
    """

    schema_version: Literal[1] = Field(1, description="Contract version of this event")
    event_id: Token = Field(description="Unique id of the transaction; the idempotency key")
    event_time: Instant = Field(
        description="When the transaction happened, RFC 3339 (ISO 8601) with a UTC offset"
    )
    customer_id: Token = Field(description="Opaque card/customer token (never a card number)")
    terminal_id: Token = Field(description="Terminal or merchant id")
    amount: float = Field(ge=0, le=1_000_000_000, allow_inf_nan=False, description="Amount")
    currency: str = Field("EUR", pattern=r"^[A-Z]{3}$", description="ISO 4217 currency code")
    channel: Literal["card_present", "ecommerce"] | None = Field(None, description="Channel")
    merchant_category: str | None = Field(None, pattern=r"^[0-9]{4}$", description="ISO 18245 MCC")
    country: str | None = Field(None, pattern=r"^[A-Z]{2}$", description="ISO 3166 alpha-2")


class Reason(_Frozen):
    """One contributing feature of an alert, with a sentence an analyst can read."""

    feature: str
    value: float
    contribution: float = Field(description="Contribution to the log-odds (TreeSHAP)")
    text: str


PARTIAL = (
    "Scored on windows missing part of their history: the feature store lost its state (Redis "
    "restarted empty or replaced) and has not been rebuilt (fraudscore features rebuild)"
)


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
    partial_history: bool = Field(False, description=PARTIAL)
    rules: tuple[str, ...] = Field(
        (), description="Ids of the policy's active rules that matched, in policy order"
    )
    policy_version: str | None = Field(None, description="The policy that decided, if any")

    @classmethod
    def from_event(cls, ev: TransactionEvent, *, alert_id: str, **decided: Any) -> Alert:
        """The event's identifying fields copied once, here; ``decided`` holds the rest."""
        return cls(
            alert_id=alert_id,
            event_id=ev.event_id,
            event_time=ev.event_time,
            customer_id=ev.customer_id,
            terminal_id=ev.terminal_id,
            amount=ev.amount,
            currency=ev.currency,
            **decided,
        )


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
    partial_history: bool = Field(False, description=PARTIAL)
    challenger_version: str | None = Field(
        None, description="Shadow model scored on the same features; never affects alerts"
    )
    challenger_score: float | None = None
    decision: Literal["allow", "review", "block"] | None = Field(
        None, description="The event's decision: the model's tier and the policy's rules"
    )
    rules: tuple[str, ...] = Field((), description="Active rules that matched")
    shadow_rules: tuple[str, ...] = Field(
        (), description="Shadow rules that matched: reported, never acting"
    )
    policy_version: str | None = None

    @classmethod
    def from_event(cls, ev: TransactionEvent, **decided: Any) -> ScoreRecord:
        return cls(
            event_id=ev.event_id, event_time=ev.event_time, customer_id=ev.customer_id, **decided
        )


class Sample(_Frozen):
    """A sampled event's feature vector and score on ``fraud.samples``, for drift monitoring."""

    event_id: str
    event_time: datetime
    model_version: str
    score: float
    features: dict[str, float]

    @classmethod
    def from_event(cls, ev: TransactionEvent, **decided: Any) -> Sample:
        return cls(event_id=ev.event_id, event_time=ev.event_time, **decided)


class LabelEvent(_Frozen):
    """A fraud/legit decision on ``fraud.labels`` (chargeback, analyst, or the simulator)."""

    event_id: Token
    event_time: Instant = Field(description="Event time of the labelled transaction")
    label_time: Instant = Field(description="When the label became known")
    customer_id: Token
    terminal_id: Token
    is_fraud: bool
    source: Literal["chargeback", "analyst", "simulator"] = "simulator"


class DeadLetter(_Frozen):
    """What a dead letter says, carried as Kafka headers next to the masked original bytes."""

    reason: str
    stage: Literal["decode", "validate", "store", "duplicate"] = Field(
        description="decode: not JSON; validate: not the event schema; store: a valid event the "
        "feature store refused (a key of another type); duplicate: an event id already used by "
        "an event with other content"
    )
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
