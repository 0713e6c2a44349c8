"""Raw records in, events and dead letters out: the boundary every consume loop shares.

Bad input is data, never an exception: a record that does not decode or validate becomes a
dead letter carrying its (PAN-masked) bytes, the reason and where it came from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from core.decode import Rejection, decode
from core.messages import DeadLetter, TransactionEvent
from core.pan import mask_pans
from core.records import InRecord, OutRecord

DLQ_VALUE_MAX_BYTES = 512 * 1024  # under the producer's and the brokers' default 1 MB limits
# Dead-letter headers the worker computes (numbers, never input; "reason" is not among them, it
# names the input's fields): a card-number scanner skips them, since an epoch-millisecond
# timestamp has 13 digits and passes Luhn one time in ten.
COMPUTED_HEADERS = frozenset(
    {"origin_partition", "origin_offset", "origin_timestamp_ms", "value_bytes"}
)


def dead_letter(rec: InRecord, rej: Rejection, dlq_topic: str) -> OutRecord:
    """The original bytes with PAN-like runs masked, the reason and origin as headers.

    A value too large for any Kafka topic's default limit keeps its first
    ``DLQ_VALUE_MAX_BYTES`` (header ``value_bytes`` says how long it was): a dead letter that
    cannot be published would stop the partition for good.
    """
    raw = rec.value or b""
    masked = mask_bytes(raw)  # before the cut: a card number across it keeps no digits
    cut = mask_bytes(masked[:DLQ_VALUE_MAX_BYTES])  # and after: a run cut to a PAN's length
    info = DeadLetter(
        reason=rej.reason,
        stage=rej.stage,
        origin_topic=rec.topic,
        origin_partition=rec.partition,
        origin_offset=rec.offset,
        origin_timestamp_ms=rec.timestamp_ms,
        value_bytes=len(masked) if len(cut) < len(masked) else None,
    )
    fields = info.model_dump(exclude_none=True).items()
    headers = tuple((k, str(v).encode()) for k, v in fields)
    key = mask_bytes(rec.key) if rec.key else None
    return OutRecord(dlq_topic, key, cut, headers)


def mask_bytes(raw: bytes) -> bytes:
    """``mask_pans`` over bytes read as UTF-8 (full-width and other digits included); bytes that
    are not UTF-8 round-trip unchanged (surrogate escapes)."""
    return mask_pans(raw.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")


def ahead(
    ev: TransactionEvent, rec: InRecord, now_ms: float, max_ahead_s: float
) -> Rejection | None:
    """An event dated too far ahead of its record's Kafka timestamp or of the clock (``now_ms``).

    Event time drives the windows and their pruning: one event dated 9999-12-31 would otherwise
    cut every window it touches to itself. The record's timestamp is set by the producer or the
    broker when the payment is published, so a real event is never far ahead of it; the clock
    bounds what the producer's own timestamp could claim. An event in the past (a replay, a late
    event) is always accepted.
    """
    event_ms = ev.event_time.timestamp() * 1000
    bound = min(now_ms, rec.timestamp_ms) if rec.timestamp_ms > 0 else now_ms
    if event_ms <= bound + max_ahead_s * 1000:
        return None
    by = (event_ms - bound) / 1000
    return Rejection(
        f"event_time: {by:,.0f} s ahead of the record's timestamp or the clock (at most "
        f"{max_ahead_s:,.0f} s, FRAUDSCORE_MAX_EVENT_AHEAD_S)",
        "validate",
    )


def split(
    records: Sequence[InRecord],
    *,
    max_bytes: int,
    dlq_topic: str,
    now_ms: float | None = None,
    max_ahead_s: float = 3600.0,
) -> tuple[list[tuple[InRecord, TransactionEvent]], list[OutRecord]]:
    """Good events with their records, and dead letters for the rest (``now_ms``: also those
    dated too far ahead, ``ahead``)."""
    good: list[tuple[InRecord, TransactionEvent]] = []
    dead: list[OutRecord] = []
    for rec in records:
        result = decode(rec.value, max_bytes=max_bytes)
        if not isinstance(result, Rejection) and now_ms is not None:
            result = ahead(result, rec, now_ms, max_ahead_s) or result
        if isinstance(result, Rejection):
            dead.append(dead_letter(rec, result, dlq_topic))
        else:
            good.append((rec, result))
    return good, dead


def refuse(
    good: Sequence[tuple[InRecord, TransactionEvent]],
    refused: Mapping[int, tuple[Literal["store", "duplicate"], str]],
    dlq_topic: str,
) -> tuple[list[tuple[InRecord, TransactionEvent]], list[OutRecord]]:
    """The events left after the feature store refused those at ``refused``'s indices (for what
    they hold, or as a reused event id: a valid event must never stop the batch), and dead
    letters for the refused, with the store's stage."""
    kept = [pair for i, pair in enumerate(good) if i not in refused]
    dead = [
        dead_letter(good[i][0], Rejection(mask_pans(reason), stage), dlq_topic)
        for i, (stage, reason) in refused.items()
    ]
    return kept, dead
