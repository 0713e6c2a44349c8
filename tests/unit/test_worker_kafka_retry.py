"""Offsets asked of a cluster that is still settling (core/kafka.py ``watermarks``)."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from core import kafka
from core.kafka import watermarks


class Settling:
    """Answers ``errors`` in turn, then the watermarks."""

    def __init__(self, *errors: int) -> None:
        self.errors = list(errors)
        self.calls = 0

    def get_watermark_offsets(
        self, tp: TopicPartition, timeout: float, cached: bool
    ) -> tuple[int, int]:
        self.calls += 1
        assert not cached, "a settling cluster must be asked, not the cache"
        if self.errors:
            raise KafkaException(KafkaError(self.errors.pop(0)))
        return 3, 42


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kafka.time, "sleep", lambda _s: None)


def test_a_young_topic_is_asked_again_until_its_leader_answers() -> None:
    c = Settling(KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE)
    assert watermarks(c, TopicPartition("t", 0)) == (3, 42)  # type: ignore[arg-type]
    assert c.calls == 3


def test_other_errors_and_a_cluster_that_never_settles_raise() -> None:
    c = Settling(KafkaError.TOPIC_AUTHORIZATION_FAILED)
    with pytest.raises(KafkaException):
        watermarks(c, TopicPartition("t", 0))  # type: ignore[arg-type]
    assert c.calls == 1, "not retried"
    c = Settling(*[KafkaError.NOT_LEADER_FOR_PARTITION] * 10)
    with pytest.raises(KafkaException):
        watermarks(c, TopicPartition("t", 0), attempts=4)  # type: ignore[arg-type]
    assert c.calls == 4
