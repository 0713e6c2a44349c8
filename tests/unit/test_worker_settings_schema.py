"""Settings (env prefix, librdkafka passthrough, secrets), schema contract, loop helpers."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition
from pydantic import ValidationError

from cli import schema
from cli.schema import MODELS as WIRE_MODELS
from core.messages import TransactionEvent
from core.records import InRecord, first_offsets, next_offsets
from core.settings import DeliveryMode, RedisFailurePolicy, Settings
from worker.guard import BadInputFlood, BadInputGuard

KAFKA_SECRET = "kafka-s3cret-Pa55"
SSL_SECRET = "ssl-key-s3cret-Pa55"
REDIS_SECRET = "redis-s3cret-Pa55"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """A clean environment: no FRAUDSCORE_ variables and no .env file in the working dir."""
    for name in list(os.environ):
        if name.upper().startswith("FRAUDSCORE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def load() -> Settings:
    return Settings(_env_file=None)  # type: ignore[call-arg]


# -- settings -------------------------------------------------------------------------------------


def test_env_prefix_and_kafka_config_passthrough(env: pytest.MonkeyPatch) -> None:
    env.setenv("FRAUDSCORE_KAFKA_BOOTSTRAP_SERVERS", "broker-a:9093,broker-b:9093")
    env.setenv(
        "FRAUDSCORE_KAFKA_CONFIG",
        json.dumps(
            {
                "security.protocol": "SASL_SSL",
                "sasl.mechanism": "SCRAM-SHA-512",
                "sasl.username": "fraud",
                "ssl.ca.location": "/etc/ca.pem",
                "linger.ms": "5",
            }
        ),
    )
    env.setenv("FRAUDSCORE_GROUP_ID", "g-1")
    env.setenv("FRAUDSCORE_DELIVERY", "exactly-once")
    env.setenv("FRAUDSCORE_REDIS_FAILURE_POLICY", "degrade")
    env.setenv("FRAUDSCORE_BATCH_MAX_EVENTS", "42")
    env.setenv("GROUP_ID", "unprefixed-is-ignored")
    s = load()
    assert s.group_id == "g-1"
    assert s.delivery is DeliveryMode.EXACTLY_ONCE
    assert s.redis_failure_policy is RedisFailurePolicy.DEGRADE
    assert s.batch_max_events == 42
    assert s.kafka_common() == {
        "bootstrap.servers": "broker-a:9093,broker-b:9093",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "fraud",
        "ssl.ca.location": "/etc/ca.pem",
        "linger.ms": "5",
    }


def test_defaults_without_environment(env: pytest.MonkeyPatch) -> None:
    s = load()
    assert s.kafka_common() == {"bootstrap.servers": "127.0.0.1:19092"}
    assert s.delivery is DeliveryMode.AT_LEAST_ONCE
    assert s.redis_failure_policy is RedisFailurePolicy.PAUSE
    assert s.kafka_sasl_password is None and s.redis_password is None


def test_secrets_reach_clients_but_never_repr_str_or_dump(env: pytest.MonkeyPatch) -> None:
    env.setenv("FRAUDSCORE_KAFKA_SASL_PASSWORD", KAFKA_SECRET)
    env.setenv("FRAUDSCORE_KAFKA_SSL_KEY_PASSWORD", SSL_SECRET)
    env.setenv("FRAUDSCORE_REDIS_PASSWORD", REDIS_SECRET)
    env.setenv("FRAUDSCORE_REDIS_USERNAME", "fraud-worker")
    s = load()
    common = s.kafka_common()
    assert common["sasl.password"] == KAFKA_SECRET
    assert common["ssl.key.password"] == SSL_SECRET
    assert REDIS_SECRET not in common.values()
    assert s.redis_password is not None
    assert s.redis_password.get_secret_value() == REDIS_SECRET
    assert s.redis_username == "fraud-worker"
    rendered = [repr(s), str(s), s.model_dump_json(), repr(s.model_dump()), f"{s}", f"{s!r}"]
    for text in rendered:
        for secret in (KAFKA_SECRET, SSL_SECRET, REDIS_SECRET):
            assert secret not in text
    assert "**********" in repr(s)


def test_settings_are_frozen(env: pytest.MonkeyPatch) -> None:
    s = load()
    with pytest.raises(ValidationError):
        s.group_id = "other"  # type: ignore[misc]
    assert s.group_id == "fraudscore-worker"


@pytest.mark.parametrize(
    "name,value",
    [
        ("FRAUDSCORE_BATCH_MAX_EVENTS", "0"),
        ("FRAUDSCORE_DELIVERY", "at-most-once"),
        ("FRAUDSCORE_KAFKA_CONFIG", "not json"),
        ("FRAUDSCORE_SAMPLE_RATE", "1.5"),
        ("FRAUDSCORE_DLQ_MAX_SHARE", "0"),
        ("FRAUDSCORE_REDIS_KEY_PREFIX", "has space"),
    ],
)
def test_invalid_settings_fail_at_startup(env: pytest.MonkeyPatch, name: str, value: str) -> None:
    env.setenv(name, value)
    with pytest.raises((ValidationError, ValueError)):
        load()


@pytest.mark.parametrize("key", ["ssl.keystore.password", "sasl.oauthbearer.client.secret"])
def test_secret_in_kafka_config_is_not_in_repr(env: pytest.MonkeyPatch, key: str) -> None:
    env.setenv("FRAUDSCORE_KAFKA_CONFIG", json.dumps({key: KAFKA_SECRET}))
    s = load()
    assert s.kafka_common()[key] == KAFKA_SECRET
    assert KAFKA_SECRET not in repr(s)
    assert KAFKA_SECRET not in s.model_dump_json()


# -- schema contract -------------------------------------------------------------------------------


def test_schema_files_are_not_stale() -> None:
    assert schema.stale() == []
    assert set(schema.render()) == {f"{name}.v1.json" for name in WIRE_MODELS}


def test_stale_detects_a_missing_or_changed_file(tmp_path: Path) -> None:
    written = schema.export(tmp_path)
    assert len(written) == len(WIRE_MODELS)
    assert schema.stale(tmp_path) == []
    (tmp_path / "alert.v1.json").write_text("{}\n")
    (tmp_path / "score.v1.json").unlink()
    assert sorted(schema.stale(tmp_path)) == ["alert.v1.json", "score.v1.json"]


def test_transaction_schema_file_is_valid_json_with_required_fields() -> None:
    doc = json.loads((schema.SCHEMA_DIR / "transaction.v1.json").read_text())
    assert doc["$id"].endswith("/transaction.v1.json")
    assert set(doc["required"]) == {
        "event_id",
        "event_time",
        "customer_id",
        "terminal_id",
        "amount",
    }
    assert doc["additionalProperties"] is False


def test_new_optional_field_keeps_an_old_event_valid() -> None:
    class TransactionEventV2(TransactionEvent):
        device_id: str | None = None
        risk_hint: float = 0.0

    old = (
        '{"event_id": "e1", "event_time": "2018-04-01T10:00:00+00:00", "customer_id": "c1", '
        '"terminal_id": "t1", "amount": 5.5}'
    )
    v1 = TransactionEvent.model_validate_json(old)
    v2 = TransactionEventV2.model_validate_json(old)
    assert (v2.device_id, v2.risk_hint) == (None, 0.0)
    assert v2.model_dump(exclude={"device_id", "risk_hint"}) == v1.model_dump()
    new_schema = TransactionEventV2.model_json_schema()
    assert set(new_schema["required"]) == set(TransactionEvent.model_json_schema()["required"])


# -- bad-input guard -------------------------------------------------------------------------------


def test_guard_is_silent_until_the_window_is_full() -> None:
    guard = BadInputGuard(window=10, max_share=0.5)
    guard.observe(good=0, bad=9)  # 100% bad, but only 9 of 10 seen
    with pytest.raises(BadInputFlood, match="100% of the last 10 records"):
        guard.observe(good=0, bad=1)


def test_guard_share_equal_to_limit_is_allowed() -> None:
    guard = BadInputGuard(window=10, max_share=0.5)
    guard.observe(good=5, bad=5)  # exactly 50%: not over the limit
    guard.observe(good=1, bad=0)  # window: 4 good, 5 bad, 1 good
    guard.observe(good=0, bad=0)
    with pytest.raises(BadInputFlood, match="60% of the last 10"):
        guard.observe(good=0, bad=1)  # window: 3 good, 5 bad, 1 good, 1 bad


def test_guard_window_slides() -> None:
    guard = BadInputGuard(window=10, max_share=0.3)
    guard.observe(good=7, bad=3)
    for _ in range(20):
        guard.observe(good=7, bad=3)  # steady 30%: fine forever
    guard.observe(good=10, bad=0)  # old bad records slide out
    guard.observe(good=0, bad=3)  # 30% again
    with pytest.raises(BadInputFlood, match="40% of the last 10"):
        guard.observe(good=0, bad=1)


def test_guard_large_batch_uses_the_most_recent_window() -> None:
    guard = BadInputGuard(window=10, max_share=0.5)
    guard.observe(good=95, bad=5)  # last 10 of the batch: 5 good, 5 bad
    with pytest.raises(BadInputFlood):
        guard.observe(good=0, bad=1)
    with pytest.raises(BadInputFlood):
        BadInputGuard(window=10, max_share=0.5).observe(good=5, bad=95)


# -- offsets ---------------------------------------------------------------------------------------


def _rec(topic: str, partition: int, offset: int) -> InRecord:
    return InRecord(topic, partition, offset, 0, None, b"")


def _tps(tps: Sequence[TopicPartition]) -> set[tuple[str, int, int]]:
    return {(tp.topic, tp.partition, tp.offset) for tp in tps}


def test_next_offsets_one_past_the_last_record_per_partition() -> None:
    records = [
        _rec("a", 0, 10),
        _rec("a", 1, 5),
        _rec("a", 0, 11),
        _rec("b", 0, 3),
        _rec("a", 1, 6),
    ]
    assert _tps(next_offsets(records)) == {("a", 0, 12), ("a", 1, 7), ("b", 0, 4)}
    assert len(next_offsets(records)) == 3


def test_next_offsets_uses_the_highest_offset() -> None:
    assert _tps(next_offsets([_rec("a", 0, 9), _rec("a", 0, 4)])) == {("a", 0, 10)}
    assert next_offsets([]) == []


def test_first_offsets_is_where_the_batch_started() -> None:
    records = [_rec("a", 0, 10), _rec("a", 1, 5), _rec("a", 0, 11), _rec("b", 2, 0)]
    assert _tps(first_offsets(records)) == {("a", 0, 10), ("a", 1, 5), ("b", 2, 0)}
    assert first_offsets([]) == []
