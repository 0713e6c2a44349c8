"""Client configuration from settings: our defaults, and what FRAUDSCORE_KAFKA_CONFIG may set."""

from __future__ import annotations

from pydantic import SecretStr

from core.kafka import consumer_config, producer_config
from core.settings import Settings


def test_transactional_producer_has_a_30_s_transaction_timeout_by_default() -> None:
    conf = producer_config(Settings(), "tx-1")
    assert conf["transactional.id"] == "tx-1"
    assert conf["transaction.timeout.ms"] == 30_000


def test_the_transaction_timeout_can_be_set_through_kafka_config() -> None:
    s = Settings(kafka_config={"transaction.timeout.ms": SecretStr("120000")})
    assert producer_config(s, "tx-1")["transaction.timeout.ms"] == "120000"


def test_a_plain_producer_has_no_transaction_settings() -> None:
    conf = producer_config(Settings())
    assert "transactional.id" not in conf and "transaction.timeout.ms" not in conf


def test_a_dead_worker_s_partitions_move_after_10_s_not_45() -> None:
    conf = consumer_config(Settings())
    assert (conf["session.timeout.ms"], conf["heartbeat.interval.ms"]) == (10_000, 3_333)
    fast = {"session.timeout.ms": SecretStr("6000"), "heartbeat.interval.ms": SecretStr("1000")}
    conf = consumer_config(Settings(kafka_config=fast))
    assert (conf["session.timeout.ms"], conf["heartbeat.interval.ms"]) == ("6000", "1000")
