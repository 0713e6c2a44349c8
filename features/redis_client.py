"""Redis clients with explicit budgets: timeouts in tens of milliseconds, bounded retries with
backoff, TLS files, and Redis Cluster behind the same call (``connect``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, overload

import redis
from redis.backoff import ExponentialBackoff
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException
from redis.retry import Retry

Client = redis.Redis | RedisCluster
# what a failed call raises: a cluster client's slot and topology errors are not RedisErrors
FAILED = (redis.RedisError, RedisClusterException)


@dataclass(frozen=True, slots=True)
class TlsFiles:
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    def as_kwargs(self) -> dict[str, str]:
        pairs = {
            "ssl_ca_certs": self.ca_file,
            "ssl_certfile": self.cert_file,
            "ssl_keyfile": self.key_file,
        }
        return {k: v for k, v in pairs.items() if v is not None}


@overload
def connect(
    url: str,
    *,
    username: str | None = ...,
    password: str | None = ...,
    socket_timeout_ms: int = ...,
    connect_timeout_ms: int = ...,
    retries: int = ...,
    tls: TlsFiles | None = ...,
    cluster: Literal[False] = ...,
) -> redis.Redis: ...
@overload
def connect(
    url: str,
    *,
    username: str | None = ...,
    password: str | None = ...,
    socket_timeout_ms: int = ...,
    connect_timeout_ms: int = ...,
    retries: int = ...,
    tls: TlsFiles | None = ...,
    cluster: bool,
) -> Client: ...
def connect(
    url: str,
    *,
    username: str | None = None,
    password: str | None = None,
    socket_timeout_ms: int = 50,
    connect_timeout_ms: int = 100,
    retries: int = 3,
    tls: TlsFiles | None = None,
    cluster: bool = False,
) -> Client:
    """A client with explicit budgets: ``retries`` tries with backoff, each within the timeout.

    ``rediss://`` URLs speak TLS; ``tls`` names the CA that signed the server's certificate
    (and, for servers that authenticate clients, our certificate and key). ``cluster`` returns
    a Redis Cluster client: ``url`` is any node, from which it learns the others (it connects
    at once, so an unreachable cluster raises here); it retries a call ``retries`` times after
    refreshing the cluster's layout (redis-py uses only the count, not the backoff).
    """
    extra: dict[str, str] = {}
    if tls is not None:
        if not url.startswith("rediss://"):
            raise ValueError("Redis TLS files are set but the URL is not rediss://")
        extra = {k: str(v) for k, v in tls.as_kwargs().items()}
    retry = Retry(ExponentialBackoff(cap=0.2, base=0.01), retries)
    if cluster:
        return RedisCluster.from_url(
            url,
            username=username,
            password=password,
            socket_timeout=socket_timeout_ms / 1000,
            socket_connect_timeout=connect_timeout_ms / 1000,
            retry=retry,
            **extra,
        )
    return redis.Redis.from_url(
        url,
        username=username,
        password=password,
        socket_timeout=socket_timeout_ms / 1000,
        socket_connect_timeout=connect_timeout_ms / 1000,
        retry=retry,
        retry_on_timeout=True,
        health_check_interval=0,
        **extra,
    )
