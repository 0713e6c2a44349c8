"""Events to the online store's inputs, and raw aggregates to the model's feature matrix.

Fraud labels become the store's label inputs here too (``parse_labels``): the stream, a
backtest and the naive baseline read them the same way.

The store (``features.online``) answers raw aggregates per event; ``feature_matrix`` derives
the registry's features from them with ``features.registry.derive``, the same code training uses.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence

import numpy as np
from pydantic import ValidationError

from core.messages import LabelEvent, TransactionEvent
from core.pan import mask_pans
from decision.model import FloatArray
from features.online import StoreEvent, StoreLabel
from features.registry import RAW_INDEX, WINDOWS_DAYS, derive

log = logging.getLogger(__name__)


def event_ms(ev: TransactionEvent) -> int:
    return int(ev.event_time.timestamp() * 1000)


def local_ms(ev: TransactionEvent) -> int:
    """Wall-clock time at the event's own UTC offset (weekend/night are local notions)."""
    offset = ev.event_time.utcoffset()
    return event_ms(ev) + (int(offset.total_seconds() * 1000) if offset else 0)


def fingerprint(ev: TransactionEvent, ms: int | None = None) -> str:
    """A digest of everything an event says but its id, stable across processes and versions:
    a replay of the event matches it, the same id with any other content does not. ``ms`` is
    ``event_ms(ev)`` when the caller has it. About 2.6 us an event (a formatted line, blake2b)."""
    offset = ev.event_time.utcoffset()  # the offset too: local time is a feature
    line = (
        f"{ev.customer_id}\x1f{ev.terminal_id}\x1f{event_ms(ev) if ms is None else ms}\x1f"
        f"{offset}\x1f{ev.amount!r}\x1f{ev.currency}\x1f{ev.channel}\x1f"
        f"{ev.merchant_category}\x1f{ev.country}"
    )
    digest = hashlib.blake2b(line.encode(), digest_size=12).hexdigest()
    # hex with the digits spelled as letters: stored in Redis beside the features, a digest
    # must never hold a run of digits that reads as a card number (PAN scans of the store)
    return digest.translate(_NO_DIGITS)


_NO_DIGITS = str.maketrans("0123456789", "ghijklmnop")


def store_events(events: Sequence[TransactionEvent]) -> list[StoreEvent]:
    out = []
    for ev in events:
        ms = event_ms(ev)
        out.append(
            StoreEvent(
                ev.event_id,
                ev.customer_id,
                ev.terminal_id,
                ms,
                round(ev.amount * 100),
                fingerprint(ev, ms),
            )
        )
    return out


def degraded_raw(amounts: FloatArray) -> FloatArray:
    """Raw aggregates when the store is down: the event alone in its windows, no terminal data."""
    raw = np.zeros((len(amounts), len(RAW_INDEX)), dtype=np.float64)
    for w in WINDOWS_DAYS:
        raw[:, RAW_INDEX[f"customer_count_{w}d"]] = 1.0
        raw[:, RAW_INDEX[f"customer_sum_{w}d"]] = amounts
    return raw


def degraded_for(events: Sequence[TransactionEvent]) -> FloatArray:
    return degraded_raw(np.array([ev.amount for ev in events], dtype=np.float64))


def feature_matrix(events: Sequence[TransactionEvent], raw: FloatArray) -> FloatArray:
    amounts = np.fromiter((ev.amount for ev in events), dtype=np.float64, count=len(events))
    local = np.fromiter((local_ms(ev) for ev in events), dtype=np.int64, count=len(events))
    return derive(raw, amounts, local)


def parse_labels(values: Sequence[bytes | None]) -> list[StoreLabel]:
    """Label messages as store labels; one that does not validate is logged without its
    content and skipped (labels are feedback: one bad label must not stop scoring)."""
    out = []
    for value in values:
        try:
            lab = LabelEvent.model_validate_json(value or b"")
        except ValidationError as exc:
            # Field names are input too (an unknown field can be named by a card number).
            first = exc.errors(include_input=False, include_url=False)[:1]
            log.warning("skipping an invalid label: %s", mask_pans(str(first)))
            continue
        out.append(
            StoreLabel(
                lab.event_id, lab.terminal_id, int(lab.event_time.timestamp() * 1000), lab.is_fraud
            )
        )
    return out
