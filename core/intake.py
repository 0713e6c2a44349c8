"""Raw records in, events and dead letters out: the boundary every consume loop shares.

Bad input is data, never an exception: a record that does not decode or validate becomes a
dead letter carrying its (PAN-masked) bytes, the reason and where it came from.
"""

from __future__ import annotations

from collections.abc import Sequence

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
    cut = raw[:DLQ_VALUE_MAX_BYTES]
    masked = mask_pans(cut.decode("latin-1")).encode("latin-1")  # latin-1: any bytes round-trip
    info = DeadLetter(
        reason=rej.reason,
        stage=rej.stage,
        origin_topic=rec.topic,
        origin_partition=rec.partition,
        origin_offset=rec.offset,
        origin_timestamp_ms=rec.timestamp_ms,
        value_bytes=len(raw) if len(cut) < len(raw) else None,
    )
    fields = info.model_dump(exclude_none=True).items()
    headers = tuple((k, str(v).encode()) for k, v in fields)
    key = mask_pans(rec.key.decode("latin-1")).encode("latin-1") if rec.key else None
    return OutRecord(dlq_topic, key, masked, headers)


def split(
    records: Sequence[InRecord], *, max_bytes: int, dlq_topic: str
) -> tuple[list[tuple[InRecord, TransactionEvent]], list[OutRecord]]:
    """Good events with their records, and dead letters for the rest."""
    good: list[tuple[InRecord, TransactionEvent]] = []
    dead: list[OutRecord] = []
    for rec in records:
        result = decode(rec.value, max_bytes=max_bytes)
        if isinstance(result, Rejection):
            dead.append(dead_letter(rec, result, dlq_topic))
        else:
            good.append((rec, result))
    return good, dead
