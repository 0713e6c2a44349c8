"""``fraudscore models compare``: champion vs challenger on labelled, shadow-scored events."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cli.compare import compare


def _score(i: int, day: int, pair: tuple[str, str], fraud: bool) -> dict[str, object]:
    champion, challenger = pair
    return {
        "event_id": f"e{i}",
        "event_time": f"2026-01-{day:02d}T12:00:00Z",
        "score": 0.9 if fraud else 0.1,
        "model_version": champion,
        "challenger_version": challenger,
        "challenger_score": 0.2 if fraud else 0.8,  # the old challenger: exactly backwards
    }


def test_only_the_newest_pair_is_compared() -> None:
    old, new = ("A", "B"), ("A", "C")
    scores = [_score(i, 1 + i % 5, old, i % 3 == 0) for i in range(30)]
    scores += [
        {**_score(100 + i, 6 + i % 5, new, i % 3 == 0), "challenger_score": 0.5 + (i % 3 == 0) / 4}
        for i in range(30)
    ]
    scores.append({"event_id": "u", "event_time": "2026-01-20T00:00:00Z", "score": 0.3})
    fraud_ids = [s["event_id"] for s in scores if s.get("score") == 0.9]
    labels = [
        {"event_id": e, "is_fraud": True, "label_time": "2026-01-30T00:00:00Z"} for e in fraud_ids
    ]
    result = compare(scores, labels, delay=timedelta(days=7))
    assert (result.champion, result.challenger) == new
    assert result.events == 30 and result.frauds == 10
    assert result.average_precision == pytest.approx((1.0, 1.0)), "old pair's records left out"


def test_no_shadow_scores_says_how_to_get_them() -> None:
    with pytest.raises(ValueError, match="promotion gate"):
        compare([{"event_id": "e", "score": 0.1}], [])
