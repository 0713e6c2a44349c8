"""The pure core of ``fraudscore label``: from what the analyst typed to a ``LabelEvent``.

The worker files a label under the labelled transaction's terminal and event time, so a label
is only useful when those are exactly the transaction's: ``--from-alert`` copies them from a
saved alert, and a value typed as well must agree with it. Every error message masks what was
typed, so a card number pasted by mistake is not echoed back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import ValidationError

from analyst.errors import InputError
from core.messages import Alert, LabelEvent
from core.pan import mask_pans

Source = Literal["analyst", "chargeback"]
T = TypeVar("T")
_OPTION = {
    "event_id": "EVENT_ID",
    "customer_id": "--customer",
    "terminal_id": "--terminal",
    "event_time": "--event-time",
    "label_time": "--label-time",
    "source": "--source",
}
TIME_EXAMPLE = "2025-07-01T12:30:00+00:00"


def parse_time(text: str, option: str) -> datetime:
    """An ISO 8601 time with a UTC offset ("Z" allowed); a naive time is refused, not guessed."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(
            f"{option} {mask_pans(text)!r} is not an ISO 8601 time, e.g. {TIME_EXAMPLE}"
        ) from None
    if value.utcoffset() is None:
        raise InputError(
            f"{option} {mask_pans(text)!r} has no UTC offset; add one, e.g. {TIME_EXAMPLE}"
        )
    return value


@dataclass(frozen=True, slots=True)
class Transaction:
    """What identifies the labelled transaction."""

    event_id: str
    customer_id: str
    terminal_id: str
    event_time: datetime


@dataclass(frozen=True, slots=True)
class Typed:
    """What the command line says about it; ``merge`` completes it from a saved alert."""

    event_id: str | None = None
    customer_id: str | None = None
    terminal_id: str | None = None
    event_time: datetime | None = None


def read_alert(path: Path) -> Alert:
    """One saved alert, e.g. a line of ``fraudscore alerts tail --json`` written to a file."""
    if not path.is_file():
        raise InputError(f"alert file {path} does not exist")
    try:
        return Alert.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        first = exc.errors(include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "file"
        raise InputError(
            f"{path} is not one alert (save one line of `alerts tail --json`): "
            f"{where}: {first['msg']}"
        ) from None


def from_alert(alert: Alert) -> Transaction:
    return Transaction(alert.event_id, alert.customer_id, alert.terminal_id, alert.event_time)


def merge(typed: Typed, saved: Transaction | None) -> Transaction:
    """Typed values fill in or must equal the saved alert's; a missing one is an error."""
    other = saved or Typed()
    return Transaction(
        _pick("event_id", typed.event_id, other.event_id),
        _pick("customer_id", typed.customer_id, other.customer_id),
        _pick("terminal_id", typed.terminal_id, other.terminal_id),
        _pick("event_time", typed.event_time, other.event_time),
    )


def _pick(field: str, mine: T | None, theirs: T | None) -> T:
    if mine is not None and theirs is not None and mine != theirs:
        raise InputError(
            f"{_OPTION[field]} {mask_pans(str(mine))!r} differs from the alert's "
            f"{field} {mask_pans(str(theirs))!r}; leave it out or fix it"
        )
    value = mine if mine is not None else theirs
    if value is None:
        raise InputError(f"{_OPTION[field]} is required (or give --from-alert)")
    return value


def build_label(
    tx: Transaction, *, is_fraud: bool, label_time: datetime, source: Source
) -> LabelEvent:
    """Validate into the wire message; the first problem becomes one readable line."""
    try:
        label = LabelEvent(
            event_id=tx.event_id,
            event_time=tx.event_time,
            label_time=label_time,
            customer_id=tx.customer_id,
            terminal_id=tx.terminal_id,
            is_fraud=is_fraud,
            source=source,
        )
    except ValidationError as exc:
        first = exc.errors(include_input=False)[0]
        field = str(first["loc"][0]) if first["loc"] else "label"
        raise InputError(f"invalid {_OPTION.get(field, field)}: {first['msg']}") from None
    if label.label_time < label.event_time:
        raise InputError(
            f"--label-time {label.label_time.isoformat()} is before the transaction's "
            f"--event-time {label.event_time.isoformat()}"
        )
    return label


def describe(label: LabelEvent) -> str:
    """One human line: what was decided about which transaction."""
    verdict = "FRAUD" if label.is_fraud else "legit"
    return mask_pans(
        f"{label.event_id} labelled {verdict} ({label.source}): customer {label.customer_id}, "
        f"terminal {label.terminal_id}, event time {label.event_time.isoformat()}, "
        f"label time {label.label_time.isoformat()}"
    )
