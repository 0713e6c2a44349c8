"""The pure batch pipeline: records in, output records out. No sockets, no clocks.

The consume loop (``worker.loop``) calls these steps in order:

1. ``split`` decodes and validates; bad records become dead letters (masked bytes + reason);
2. the loop asks the online store for raw aggregates (``features.online``), or uses
   ``degraded_raw`` when the policy is to degrade;
3. ``score`` builds the feature matrix with ``features.registry.derive``, scores it with one
   predict call, and routes: an alert for each score over the threshold (with reasons, computed
   for those rows only), a score record for every event, a sample for a deterministic share.

Everything here depends only on its inputs, so the same records give the same outputs.
"""

from __future__ import annotations

import base64
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from core.decode import Rejection, decode
from core.messages import (
    Alert,
    DeadLetter,
    Reason,
    Sample,
    ScoreRecord,
    TransactionEvent,
    mask_pans,
)
from features.online import StoreEvent
from features.registry import FEATURE_NAMES, RAW_INDEX, WINDOWS_DAYS, derive

ALERT_NAMESPACE = uuid.UUID("5b7e4c1e-2f0a-4d59-9d8e-6a3f1f6b2c11")
FloatArray = npt.NDArray[np.float64]


class ScoringModel(Protocol):
    """What the pipeline needs of a model bundle (see ``models.scorer``)."""

    version: str
    threshold: float
    block_threshold: float | None

    def predict(self, x: FloatArray) -> FloatArray: ...

    def reasons(self, x: FloatArray, k: int) -> list[tuple[Reason, ...]]: ...


@dataclass(frozen=True, slots=True)
class InRecord:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class OutRecord:
    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class Topics:
    dlq: str
    alerts: str
    scores: str
    samples: str


@dataclass(slots=True)
class Scored:
    outputs: list[OutRecord] = field(default_factory=list)
    alerts: int = 0
    sampled: int = 0
    scores: FloatArray = field(default_factory=lambda: np.empty(0))


DLQ_VALUE_MAX_BYTES = 512 * 1024  # under the producer's and the brokers' default 1 MB limits


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


def event_ms(ev: TransactionEvent) -> int:
    return int(ev.event_time.timestamp() * 1000)


def local_ms(ev: TransactionEvent) -> int:
    """Wall-clock time at the event's own UTC offset (weekend/night are local notions)."""
    offset = ev.event_time.utcoffset()
    return event_ms(ev) + (int(offset.total_seconds() * 1000) if offset else 0)


def store_events(good: Sequence[tuple[InRecord, TransactionEvent]]) -> list[StoreEvent]:
    return [
        StoreEvent(
            ev.event_id, ev.customer_id, ev.terminal_id, event_ms(ev), round(ev.amount * 100)
        )
        for _, ev in good
    ]


def degraded_raw(amounts: FloatArray) -> FloatArray:
    """Raw aggregates when the store is down: the event alone in its windows, no terminal data."""
    raw = np.zeros((len(amounts), len(RAW_INDEX)), dtype=np.float64)
    for w in WINDOWS_DAYS:
        raw[:, RAW_INDEX[f"customer_count_{w}d"]] = 1.0
        raw[:, RAW_INDEX[f"customer_sum_{w}d"]] = amounts
    return raw


def is_sampled(event_id: str, rate: float) -> bool:
    """Deterministic by event id, so a replay samples the same events."""
    return zlib.crc32(event_id.encode()) % 1_000_000 < rate * 1_000_000


def alert_id(event_id: str) -> str:
    """Deterministic per event, so a re-sent alert can be dropped by id.

    A UUID-5 written in base32 rather than the dashed hex form: dashed hex can hold digit groups
    that pass the Luhn check, which card-number scanners (ours and the analysts') would flag.
    """
    digest = uuid.uuid5(ALERT_NAMESPACE, event_id).bytes
    return "al-" + base64.b32encode(digest).decode().rstrip("=").lower()


def feature_matrix(
    good: Sequence[tuple[InRecord, TransactionEvent]], raw: FloatArray
) -> FloatArray:
    amounts = np.fromiter((ev.amount for _, ev in good), dtype=np.float64, count=len(good))
    local = np.fromiter((local_ms(ev) for _, ev in good), dtype=np.int64, count=len(good))
    return derive(raw, amounts, local)


def score(
    good: Sequence[tuple[InRecord, TransactionEvent]],
    x: FloatArray,
    model: ScoringModel,
    *,
    topics: Topics,
    sample_rate: float,
    top_k: int,
    degraded: bool = False,
    challenger: ScoringModel | None = None,
) -> Scored:
    """Score a batch with one predict call and route the results.

    A challenger, if any, is scored on the same matrix and only recorded in the score records.
    """
    out = Scored()
    if not good:
        return out
    scores = model.predict(x)
    shadow = challenger.predict(x) if challenger is not None else None
    out.scores = scores
    flagged = np.flatnonzero(scores >= model.threshold)
    reasons = dict(zip(flagged.tolist(), model.reasons(x[flagged], top_k), strict=True))
    for i, (rec, ev) in enumerate(good):
        s = float(scores[i])
        key = ev.customer_id.encode()
        if i in reasons:
            out.outputs.append(_alert(ev, s, model, reasons[i], degraded, topics.alerts))
            out.alerts += 1
        record = ScoreRecord(
            event_id=ev.event_id,
            event_time=ev.event_time,
            customer_id=ev.customer_id,
            topic=rec.topic,
            partition=rec.partition,
            offset=rec.offset,
            score=s,
            model_version=model.version,
            alerted=i in reasons,
            degraded=degraded,
            challenger_version=challenger.version if challenger is not None else None,
            challenger_score=float(shadow[i]) if shadow is not None else None,
        )
        out.outputs.append(OutRecord(topics.scores, key, record.model_dump_json().encode()))
        if is_sampled(ev.event_id, sample_rate):
            sample = Sample(
                event_id=ev.event_id,
                event_time=ev.event_time,
                model_version=model.version,
                score=s,
                features=dict(zip(FEATURE_NAMES, x[i].tolist(), strict=True)),
            )
            out.outputs.append(
                OutRecord(topics.samples, ev.event_id.encode(), sample.model_dump_json().encode())
            )
            out.sampled += 1
    return out


def _alert(
    ev: TransactionEvent,
    s: float,
    model: ScoringModel,
    reasons: tuple[Reason, ...],
    degraded: bool,
    topic: str,
) -> OutRecord:
    block = model.block_threshold is not None and s >= model.block_threshold
    alert = Alert(
        alert_id=alert_id(ev.event_id),
        event_id=ev.event_id,
        event_time=ev.event_time,
        customer_id=ev.customer_id,
        terminal_id=ev.terminal_id,
        amount=ev.amount,
        currency=ev.currency,
        score=s,
        threshold=model.threshold,
        tier="block" if block else "review",
        model_version=model.version,
        reasons=reasons,
        degraded=degraded,
    )
    return OutRecord(topic, ev.customer_id.encode(), alert.model_dump_json().encode())
