"""One fix per failure from librdkafka's errors (the texts are what librdkafka 2.x said on this
machine to each wrong client), and its log lines without the repeats."""

from __future__ import annotations

import logging

import pytest
from confluent_kafka import KafkaError

from core.kafka_errors import RDKAFKA_LOG, client_config, diagnose
from core.settings import Settings

B = "sasl_ssl://127.0.0.1:19094/bootstrap: "
SAID = {
    "dns": (
        KafkaError._RESOLVE,
        "nosuchhost.invalid:9092/bootstrap: Failed to resolve 'nosuchhost.invalid:9092': "
        "Name or service not known (after 1ms in state CONNECT)",
    ),
    "refused": (
        KafkaError._TRANSPORT,
        "127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused "
        "(after 0ms in state CONNECT)",
    ),
    "tls": (
        KafkaError._TRANSPORT,
        "ssl://127.0.0.1:19092/bootstrap: SSL handshake failed: Disconnected: SSL connection "
        "closed by peer: connecting to a PLAINTEXT broker listener? (after 9ms in state "
        "SSL_HANDSHAKE)",
    ),
    "auth": (
        KafkaError._AUTHENTICATION,
        B + "SASL authentication error: Authentication failed during authentication due to "
        "invalid credentials with SASL mechanism SCRAM-SHA-512 (after 310ms in state AUTH_REQ)",
    ),
}


@pytest.mark.parametrize("kind", list(SAID))
def test_each_failure_is_named_with_its_fix_and_librdkafkas_words_without_the_noise(
    kind: str,
) -> None:
    code, text = SAID[kind]
    found = diagnose([KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"),
                      KafkaError(code, text)])  # fmt: skip
    assert found.kind == kind
    assert "after" not in found.detail and "/bootstrap" not in found.detail
    line = found.sentence("h:1")
    assert line.startswith("Kafka at h:1: ") and "\n" not in line


def test_a_sasl_client_on_a_listener_without_sasl_is_a_protocol_mismatch_not_a_password() -> None:
    said = (
        "sasl_plaintext://127.0.0.1:19092/bootstrap: SASL PLAIN mechanism handshake failed: "
        "Broker: Request not valid in current SASL state: broker's supported mechanisms:  "
        "(after 6ms in state AUTH_HANDSHAKE)"
    )
    assert diagnose([KafkaError(KafkaError._AUTHENTICATION, said)]).kind == "tls"


def test_authentication_wins_over_the_transport_errors_around_it() -> None:
    code, text = SAID["auth"]
    errors = [KafkaError(*SAID["refused"]), KafkaError(code, text), KafkaError(*SAID["dns"])]
    assert diagnose(errors).kind == "auth"


def test_missing_grants_and_unknown_errors_and_silence() -> None:
    denied = KafkaError(KafkaError.GROUP_AUTHORIZATION_FAILED, "Broker: Group authorization failed")
    assert diagnose([denied]).kind == "authorization"
    odd = KafkaError(KafkaError.INVALID_CONFIG, "Broker: Invalid config")
    assert diagnose([odd]).kind == "other" and diagnose([odd]).detail == "Broker: Invalid config"
    vague = [
        KafkaError(KafkaError._TRANSPORT, "Failed to get metadata: Local: Broker transport failure")
    ]
    assert diagnose(vague).kind == "timeout" and diagnose([]).kind == "timeout"


def test_repeated_librdkafka_lines_are_said_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    line = (
        "FAIL [rdkafka#consumer-{n}] [thrd:127.0.0.1:19092/bootstrap]: Connect failed (after {n}ms)"
    )
    with caplog.at_level(logging.DEBUG, logger="librdkafka"):
        for n in range(50):
            RDKAFKA_LOG.error(line.format(n=n))
        RDKAFKA_LOG.error("another problem")
    assert [r.getMessage() for r in caplog.records] == [line.format(n=0), "another problem"]


def test_every_client_logs_through_python_logging() -> None:
    conf = client_config(Settings(kafka_bootstrap_servers="h:1"), **{"group.id": "g"})
    assert conf["logger"] is RDKAFKA_LOG and conf["group.id"] == "g"
    assert conf["bootstrap.servers"] == "h:1"
