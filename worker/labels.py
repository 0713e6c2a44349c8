"""Fraud labels (``fraud.labels``) into the online store's terminal fraud sets.

Labels are idempotent per event id (a set member), so a label consumed twice changes nothing. A
label that does not validate is logged without its content and skipped: labels are feedback,
and one bad label must not stop scoring.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from confluent_kafka import Message
from pydantic import ValidationError

from features.online import OnlineStore, StoreLabel
from worker.messages import LabelEvent

log = logging.getLogger(__name__)


def parse_labels(values: Sequence[bytes | None]) -> list[StoreLabel]:
    out = []
    for value in values:
        try:
            lab = LabelEvent.model_validate_json(value or b"")
        except ValidationError as exc:
            log.warning("skipping an invalid label: %s", exc.errors(include_input=False)[:1])
            continue
        out.append(
            StoreLabel(
                lab.event_id, lab.terminal_id, int(lab.event_time.timestamp() * 1000), lab.is_fraud
            )
        )
    return out


def apply_label_messages(store: OnlineStore, msgs: Sequence[Message]) -> int:
    labels = parse_labels([m.value() for m in msgs if m.error() is None])
    store.apply_labels(labels)
    return len(labels)
