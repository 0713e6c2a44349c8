"""The secure profile on a real broker: SASL_SSL only, SCRAM users, ACLs enforced
(``devstack.secure``), as the hostile-input issue asked (item 6) with its wrong clients (item 4).

- a worker logged in as a user holding exactly ``devstack.secure.worker_acls`` scores a stream
  exactly once over TLS, so that list is enough;
- a client with no login cannot even connect, and a logged-in user without grants can neither
  create a topic nor write a forged alert (the issue's repro, on the plaintext broker);
- every wrong client is told what is wrong in one line (plaintext on a TLS listener, a CA not
  trusted, a bad password, missing ACLs), and librdkafka prints nothing of its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from core.errors import StartupError
from core.kafka import check_topics
from core.settings import DeliveryMode, Settings
from devstack import secure
from simulator.produce import produce_stream
from tests.e2e.helpers import read_all, running_worker
from worker.run import worker_topics

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

USERS = {"worker": "worker-pass-for-this-test", "stranger": "stranger-pass", "nogroup": "ng-pass"}
ADMIN_PASSWORD = "admin-pass-for-this-test"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[secure.SecureKafka]:
    b = secure.start(tmp_path_factory.mktemp("secure-kafka"), USERS, admin_password=ADMIN_PASSWORD)
    yield b
    b.stop()


def _settings(
    broker: secure.SecureKafka,
    name: str,
    redis_url: str,
    model_dir: Path,
    *,
    user: str = "worker",
    password: str | None = None,
    kafka_config: dict[str, str] | None = None,
    **extra: object,
) -> Settings:
    login = broker.client_config(user, password or USERS.get(user, ADMIN_PASSWORD))
    secret = login.pop("sasl.password")
    login.pop("bootstrap.servers")
    values: dict[str, object] = {
        "kafka_bootstrap_servers": broker.bootstrap,
        "kafka_config": login if kafka_config is None else kafka_config,
        "kafka_sasl_password": secret,
        "redis_url": redis_url,
        "redis_key_prefix": name,
        "redis_socket_timeout_ms": 1000,
        "model_dir": model_dir,
        "group_id": f"{name}-workers",
        "worker_id": f"{name}-w1",
        **{f"topic_{t}": f"{name}.{t}" for t in _TOPICS},
    }
    values.update(extra)
    return Settings(**values)  # type: ignore[arg-type]


_TOPICS = ("transactions", "dlq", "alerts", "scores", "samples", "labels", "drift")


def _topics(s: Settings) -> list[str]:
    return [getattr(s, f"topic_{t}") for t in _TOPICS]


def _create_topics(broker: secure.SecureKafka, s: Settings) -> None:
    admin = broker.admin()  # held until the futures resolve: a dropped client cancels them
    for future in admin.create_topics([NewTopic(t, 2, 1) for t in _topics(s)]).values():
        future.result(30)


def _grant(broker: secure.SecureKafka, s: Settings, user: str, *, group: bool = True) -> None:
    acls = secure.worker_acls(
        f"User:{user}",
        reads=[s.topic_transactions, s.topic_labels],
        writes=[s.topic_dlq, s.topic_alerts, s.topic_scores, s.topic_samples],
        group_prefix=s.group_id,
        transactional_prefix=f"fraudscore-{s.group_id}-",
    )
    if not group:
        acls = [a for a in acls if a.restype.name != "GROUP"]
    admin = broker.admin()
    for future in admin.create_acls(acls).values():
        future.result(30)


def test_a_worker_holding_only_its_acls_scores_exactly_once_over_sasl_ssl(
    broker: secure.SecureKafka,
    redis_url: str,
    unique_name: str,
    e2e_dataset: pd.DataFrame,
    e2e_model_dir: Path,
) -> None:
    s = _settings(broker, unique_name, redis_url, e2e_model_dir, delivery=DeliveryMode.EXACTLY_ONCE)
    _create_topics(broker, s)
    _grant(broker, s, "worker")
    as_admin = _settings(broker, unique_name, redis_url, e2e_model_dir, user=secure.ADMIN)
    events = e2e_dataset.iloc[:400]
    prefix = f"{unique_name}-"
    # produced first: a fresh broker's transaction coordinator may take a while to load under
    # load, and the worker then finds its whole input waiting
    produce_stream(events, as_admin, id_prefix=prefix, progress=False, with_labels=False)
    with running_worker(s, max_events=len(events), idle_timeout_s=120) as result:
        pass
    assert result["stats"].scored == len(events), result  # the worker's side, then the topic's
    login = broker.client_config(secure.ADMIN, ADMIN_PASSWORD)
    # TLS and SCRAM handshakes on two loaded cores: give the read-back time to connect
    raw = read_all(broker.bootstrap, s.topic_scores, config=login, timeout_s=90)
    scored = [json.loads(v or b"{}")["event_id"] for _, v, _ in raw]
    assert sorted(scored) == sorted(f"{prefix}{i}" for i in events["TRANSACTION_ID"])
    print(f"secure profile: {len(scored)} events scored once over SASL_SSL with worker ACLs only")


def test_no_login_no_connection_and_no_grant_no_topic_and_no_forged_alert(
    broker: secure.SecureKafka, redis_url: str, unique_name: str, e2e_model_dir: Path
) -> None:
    s = _settings(broker, unique_name, redis_url, e2e_model_dir)
    _create_topics(broker, s)
    anonymous = AdminClient({"bootstrap.servers": broker.bootstrap, "log_level": 0})
    with pytest.raises(Exception, match=r"Broker transport failure|timed out"):
        anonymous.list_topics(timeout=5)

    stranger = broker.client_config("stranger", USERS["stranger"])
    admin = AdminClient({**stranger, "log_level": 0})  # held while its future is pending
    created = admin.create_topics([NewTopic(f"{unique_name}.x", 1, 1)])
    with pytest.raises(Exception) as refused:
        created[f"{unique_name}.x"].result(30)
    assert refused.value.args[0].code() in (
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    )

    outcome: list[KafkaError | None] = []
    forger = Producer({**stranger, "log_level": 0, "message.timeout.ms": 10_000})
    forger.produce(
        s.topic_alerts, b'{"alert_id":"forged"}', on_delivery=lambda e, _m: outcome.append(e)
    )
    forger.flush(30)
    assert outcome and outcome[0] is not None
    assert outcome[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert (
        read_all(
            broker.bootstrap,
            s.topic_alerts,
            config=broker.client_config(secure.ADMIN, ADMIN_PASSWORD),
        )
        == []
    )


WRONG: dict[str, tuple[dict[str, Any], str]] = {
    "plaintext client": ({"kafka_config": {}}, "does not match the listener"),
    "CA not trusted": (
        {
            "kafka_config": {
                "security.protocol": "SASL_SSL",
                "sasl.mechanism": secure.MECHANISM,
                "sasl.username": "worker",
            }
        },
        "does not match the listener",
    ),
    "wrong password": ({"password": "not-the-password"}, "authentication failed"),
    "no grants": ({"user": "stranger"}, "not allowed to describe topics"),
    "no group grant": ({"user": "nogroup"}, "authenticated but not allowed"),
}


@pytest.mark.parametrize("case", list(WRONG))
def test_a_wrong_client_is_told_what_is_wrong_in_one_line(
    case: str,
    broker: secure.SecureKafka,
    redis_url: str,
    unique_name: str,
    e2e_model_dir: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    change, expected = WRONG[case]
    s = _settings(broker, unique_name, redis_url, e2e_model_dir, **change)
    _create_topics(broker, s)
    _grant(broker, s, "nogroup", group=False)
    capfd.readouterr()
    with pytest.raises(StartupError) as caught:
        check_topics(s, worker_topics(s), s.group_id)
    said = str(caught.value)
    out, err = capfd.readouterr()
    print(f"{case}: {said}")
    assert expected in said and "\n" not in said
    assert "rdkafka" not in out + err, "librdkafka printed lines of its own"
    assert USERS["worker"] not in said and "not-the-password" not in said
