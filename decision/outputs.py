"""Decisions to output records: an alert per flagged event (with its reasons), a score record
for every event, a sample for a deterministic share of them.

Ids and sampling depend only on the event id, so a replay produces the same records.
"""

from __future__ import annotations

import base64
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from core.messages import Alert, Sample, ScoreRecord
from core.records import OutRecord
from decision.core import Decisions
from features.registry import FEATURE_NAMES

ALERT_NAMESPACE = uuid.UUID("5b7e4c1e-2f0a-4d59-9d8e-6a3f1f6b2c11")


@dataclass(frozen=True, slots=True)
class Topics:
    dlq: str
    alerts: str
    scores: str
    samples: str


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an event was read from, named in its score record."""

    topic: str
    partition: int
    offset: int


@dataclass(slots=True)
class Routed:
    outputs: list[OutRecord] = field(default_factory=list)
    alerts: int = 0
    sampled: int = 0


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


def route(d: Decisions, origins: Sequence[Origin], topics: Topics, *, sample_rate: float) -> Routed:
    """The batch's output records, in event order: alert (if flagged), score record, sample."""
    out = Routed()
    challenger = d.challenger_scores
    partial = [False] * len(d) if d.partial is None else d.partial.tolist()
    for i, ev in enumerate(d.events):
        s, key, origin = float(d.scores[i]), ev.customer_id.encode(), origins[i]
        tier = d.tiers.get(i)
        if tier is not None:
            alert = Alert.from_event(
                ev,
                alert_id=alert_id(ev.event_id),
                score=s,
                threshold=d.threshold,
                tier=tier,
                model_version=d.model_version,
                reasons=d.reasons[i],
                degraded=d.degraded,
                partial_history=partial[i],
                rules=d.fired.get(i, ()),
                policy_version=d.policy_version,
            )
            out.outputs.append(OutRecord(topics.alerts, key, alert.model_dump_json().encode()))
            out.alerts += 1
        record = ScoreRecord.from_event(
            ev,
            topic=origin.topic,
            partition=origin.partition,
            offset=origin.offset,
            score=s,
            model_version=d.model_version,
            alerted=tier is not None,
            degraded=d.degraded,
            partial_history=partial[i],
            challenger_version=d.challenger_version,
            challenger_score=float(challenger[i]) if challenger is not None else None,
            decision=d.action(i),
            rules=d.fired.get(i, ()),
            shadow_rules=d.shadow.get(i, ()),
            policy_version=d.policy_version,
        )
        out.outputs.append(OutRecord(topics.scores, key, record.model_dump_json().encode()))
        if is_sampled(ev.event_id, sample_rate):
            sample = Sample.from_event(
                ev,
                model_version=d.model_version,
                score=s,
                features=dict(zip(FEATURE_NAMES, d.x[i].tolist(), strict=True)),
            )
            out.outputs.append(
                OutRecord(topics.samples, ev.event_id.encode(), sample.model_dump_json().encode())
            )
            out.sampled += 1
    return out
