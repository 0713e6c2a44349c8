"""``fraudscore scenario``'s card-number check reads what came from input, not the worker's own
numeric dead-letter headers (a 13-digit millisecond timestamp passes Luhn one time in ten)."""

from __future__ import annotations

from cli.scenario import Seen, _take
from core.pan import luhn_ok
from core.settings import Settings

S = Settings(_env_file=None)  # type: ignore[call-arg]
LUHN_MS = next(str(t) for t in range(1_796_407_013_000, 1_796_407_014_000) if luhn_ok(str(t)))


def test_a_luhn_valid_timestamp_header_is_not_a_card_number() -> None:
    seen = Seen()
    headers = {"reason": "not valid JSON", "stage": "decode", "origin_timestamp_ms": LUHN_MS}
    _take(S, S.topic_dlq, b"{bad", headers, seen)
    assert seen.pan_like == 0 and seen.dead_letters == ["not valid JSON"]


def test_a_card_number_in_an_input_derived_header_still_counts() -> None:
    seen = Seen()
    headers = {"reason": "customer_id: 4111111111111111", "origin_timestamp_ms": "1"}
    _take(S, S.topic_dlq, b"{bad", headers, seen)
    assert seen.pan_like == 1
