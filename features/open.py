"""The online store built from settings: clients, timeouts, TLS, cluster mode, a first ping.

Every process that reads or updates features (workers, benchmarks, later the API and the state
rebuild) opens its store here, so all of them get the same timeouts and the same checks.
"""

from __future__ import annotations

import redis
from redis.exceptions import RedisClusterException

from core.errors import StartupError
from core.settings import Settings
from features.online import Client, OnlineStore, StoreUnavailable, TlsFiles, connect


def open_store(settings: Settings) -> OnlineStore:
    """Two clients: small calls get the plain timeout; the batch script gets that plus a budget
    per event of the largest batch, so a full batch is not cut off (and retried) mid-script.

    With ``redis_cluster`` both are Redis Cluster clients (which connect at once), and the
    prefix must carry a hash tag: the per-batch script may only touch keys of one slot."""

    s = settings
    files = (s.redis_tls_ca_file, s.redis_tls_cert_file, s.redis_tls_key_file)
    tls = TlsFiles(*(str(f) if f else None for f in files)) if any(files) else None
    if s.redis_cluster and "{" not in s.redis_key_prefix:
        raise StartupError(
            f"FRAUDSCORE_REDIS_CLUSTER=true needs a {{hash tag}} in FRAUDSCORE_REDIS_KEY_PREFIX "
            f"(now {s.redis_key_prefix!r}), so every key is in one slot: set e.g. "
            "FRAUDSCORE_REDIS_KEY_PREFIX={fs} (docs/scaling.md)"
        )

    def client(timeout_ms: int) -> Client:
        password = settings.redis_password
        try:
            return connect(
                settings.redis_url,
                username=settings.redis_username,
                password=password.get_secret_value() if password else None,
                socket_timeout_ms=timeout_ms,
                connect_timeout_ms=settings.redis_connect_timeout_ms,
                retries=settings.redis_retries,
                tls=tls,
                cluster=settings.redis_cluster,
            )
        except ValueError as exc:
            raise StartupError(f"{exc}; check FRAUDSCORE_REDIS_URL") from exc
        except (redis.RedisError, RedisClusterException) as exc:  # a cluster client connects now
            raise StartupError(
                f"Redis Cluster at {settings.redis_url}: {exc}; start it, point "
                "FRAUDSCORE_REDIS_URL at one of its nodes, or set FRAUDSCORE_REDIS_CLUSTER=false"
            ) from exc

    batch_budget = settings.redis_socket_timeout_ms + int(
        settings.batch_max_events * settings.redis_batch_budget_us_per_event / 1000
    )
    store = OnlineStore(
        client(settings.redis_socket_timeout_ms),
        prefix=settings.redis_key_prefix,
        cache_ttl_s=settings.feature_cache_ttl_s,
        batch_client=client(batch_budget),
    )
    try:
        store.ping()
    except StoreUnavailable as exc:
        raise StartupError(
            f"Redis at {settings.redis_url} does not answer ({exc}); "
            "start it or set FRAUDSCORE_REDIS_URL"
        ) from exc
    return store
