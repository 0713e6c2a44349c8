"""Redis with an ACL user and TLS, as a managed Redis is run: a redis-server of this test's own.

The ACL user may touch only keys under the worker's prefix (``~<prefix>:*``), so a working
enrich, label and alignment round also proves every key the store writes stays in its
namespace. The default user is off; the server speaks TLS only, with a CA made here.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from core.errors import StartupError
from core.settings import Settings
from features.online import StoreEvent, StoreLabel
from features.open import open_store

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

USER, PASSWORD = "fraudscore", "acl-pass-for-this-test-only"
PREFIX = "secure"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class SecureRedis:
    port: int
    ca: Path

    @property
    def url(self) -> str:
        return f"rediss://127.0.0.1:{self.port}/0"


def _certificates(d: Path) -> Path:
    """A CA and a server certificate for 127.0.0.1, signed by it; returns the CA file."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-keyout", "ca.key", "-out", "ca.crt",
    )  # fmt: skip
    openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", "server.key", "-out", "server.csr",
    )  # fmt: skip
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.crt",
    )  # fmt: skip
    return d / "ca.crt"


@pytest.fixture(scope="module")
def secure_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureRedis]:
    d = tmp_path_factory.mktemp("secure-redis")
    ca = _certificates(d)
    port = free_port()
    proc = subprocess.Popen(
        [
            "redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
            "--tls-cert-file", "server.crt", "--tls-key-file", "server.key",
            "--tls-ca-cert-file", "ca.crt", "--tls-auth-clients", "no",
            "--user", "default", "off",
            "--user", USER, "on", f">{PASSWORD}", f"~{PREFIX}:*", "+@all",
            "--save", "", "--appendonly", "no", "--dir", str(d),
        ],
        cwd=d,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    server = SecureRedis(port, ca)
    client = redis.Redis.from_url(
        server.url, username=USER, password=PASSWORD, ssl_ca_certs=str(ca)
    )
    deadline = time.monotonic() + 15
    while True:
        try:
            client.ping()
            break
        except redis.RedisError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("the TLS redis-server did not start")
            time.sleep(0.1)
    yield server
    proc.kill()
    proc.wait(10)


def _settings(server: SecureRedis, **extra: object) -> Settings:
    values: dict[str, object] = {
        "redis_url": server.url,
        "redis_username": USER,
        "redis_password": PASSWORD,
        "redis_tls_ca_file": server.ca,
        "redis_key_prefix": PREFIX,
        "redis_socket_timeout_ms": 1000,
    }
    values.update(extra)
    return Settings(**values)  # type: ignore[arg-type]


def test_the_store_works_over_tls_as_an_acl_user_confined_to_its_prefix(
    secure_redis: SecureRedis,
) -> None:
    store = open_store(_settings(secure_redis))
    day = 86_400_000
    events = [
        StoreEvent(f"e{i}", "cust", "term", 1_700_000_000_000 + i * day, 1000 + i) for i in range(3)
    ]
    raw = store.enrich(events)
    assert raw.shape == (3, 12)
    assert raw[2, 0] == 1.0 and raw[2, 2] == 3.0, "the customer's 1-day and 7-day counts"
    store.apply_labels([StoreLabel("e0", "term", events[0].event_ms, True)])
    assert store.exchange_progress("tx", {0: "up"}) == {"0": "up"}

    admin = redis.Redis.from_url(
        secure_redis.url, username=USER, password=PASSWORD, ssl_ca_certs=str(secure_redis.ca)
    )
    keys = {k.decode() for k in admin.scan_iter(match="*")}
    assert keys and all(k.startswith(f"{PREFIX}:") for k in keys)
    with pytest.raises(redis.exceptions.NoPermissionError):
        admin.set("outside-the-prefix", 1)  # proves the ACL would have refused a stray key


def test_a_wrong_password_is_one_clear_error_that_does_not_show_it(
    secure_redis: SecureRedis,
) -> None:
    wrong = "not-the-password-either"
    with pytest.raises(StartupError) as info:
        open_store(_settings(secure_redis, redis_password=wrong, redis_retries=0))
    assert "does not answer" in str(info.value) and wrong not in str(info.value)


def test_plain_redis_to_a_tls_port_fails_at_startup(secure_redis: SecureRedis) -> None:
    s = _settings(
        secure_redis,
        redis_url=f"redis://127.0.0.1:{secure_redis.port}/0",
        redis_tls_ca_file=None,
        redis_retries=0,
    )
    with pytest.raises(StartupError, match="does not answer"):
        open_store(s)


def test_tls_files_with_a_plain_url_are_refused(secure_redis: SecureRedis) -> None:
    s = _settings(secure_redis, redis_url=f"redis://127.0.0.1:{secure_redis.port}/0")
    with pytest.raises(StartupError, match="not rediss://"):
        open_store(s)


def test_secrets_never_show_in_settings() -> None:
    s = Settings(
        redis_password="redis-secret-value",
        kafka_sasl_password="sasl-secret-value",
        kafka_config={"sasl.oauthbearer.client.secret": "oauth-secret-value"},
    )
    shown = repr(s) + str(s) + str(s.model_dump())
    assert "secret-value" not in shown
    assert s.kafka_common()["sasl.oauthbearer.client.secret"] == "oauth-secret-value"
