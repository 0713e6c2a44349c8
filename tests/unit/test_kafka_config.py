"""Client configuration from settings: our defaults, and what FRAUDSCORE_KAFKA_CONFIG may set."""

from __future__ import annotations

from pydantic import SecretStr

from core.kafka import producer_config
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
