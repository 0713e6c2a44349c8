"""The online store and the lists built from settings: clients, timeouts, TLS, cluster mode, a
first call.

Every process that reads or updates features or lists (workers, benchmarks, ``fraudscore lists``,
later the API and the state rebuild) opens its store here, so all of them get the same timeouts
and the same checks.
"""

from __future__ import annotations

import redis
from redis.exceptions import RedisClusterException

from core.errors import StartupError
from core.settings import Settings
from features.lists import ListStore
from features.online import OnlineStore, StoreUnavailable
from features.redis_client import Client, TlsFiles, connect


def redis_client(settings: Settings, timeout_ms: int) -> Client:
    """A client of the configured Redis (TLS, ACL user, cluster mode) with this call timeout."""
    s = settings
    files = (s.redis_tls_ca_file, s.redis_tls_cert_file, s.redis_tls_key_file)
    tls = TlsFiles(*(str(f) if f else None for f in files)) if any(files) else None
    if s.redis_cluster and "{" not in s.redis_key_prefix:
        raise StartupError(
            f"FRAUDSCORE_REDIS_CLUSTER=true needs a {{hash tag}} in FRAUDSCORE_REDIS_KEY_PREFIX "
            f"(now {s.redis_key_prefix!r}), so every key is in one slot: set e.g. "
            "FRAUDSCORE_REDIS_KEY_PREFIX={fs} (docs/scaling.md)"
        )
    password = s.redis_password
    try:
        return connect(
            s.redis_url,
            username=s.redis_username,
            password=password.get_secret_value() if password else None,
            socket_timeout_ms=timeout_ms,
            connect_timeout_ms=s.redis_connect_timeout_ms,
            retries=s.redis_retries,
            tls=tls,
            cluster=s.redis_cluster,
        )
    except ValueError as exc:
        raise StartupError(f"{exc}; check FRAUDSCORE_REDIS_URL") from exc
    except (redis.RedisError, RedisClusterException) as exc:  # a cluster client connects now
        raise StartupError(
            f"Redis Cluster at {s.redis_url}: {exc}; start it, point "
            "FRAUDSCORE_REDIS_URL at one of its nodes, or set FRAUDSCORE_REDIS_CLUSTER=false"
        ) from exc


def open_store(settings: Settings) -> OnlineStore:
    """Two clients: small calls get the plain timeout; the batch script gets that plus a budget
    per event of the largest batch, so a full batch is not cut off (and retried) mid-script.

    With ``redis_cluster`` both are Redis Cluster clients (which connect at once), and the
    prefix must carry a hash tag: the per-batch script may only touch keys of one slot."""

    batch_budget = settings.redis_socket_timeout_ms + int(
        settings.batch_max_events * settings.redis_batch_budget_us_per_event / 1000
    )
    store = OnlineStore(
        redis_client(settings, settings.redis_socket_timeout_ms),
        prefix=settings.redis_key_prefix,
        cache_ttl_s=settings.feature_cache_ttl_s,
        batch_client=redis_client(settings, batch_budget),
        max_ahead_s=settings.max_event_ahead_s,
        spread_slots=settings.redis_spread_slots,
    )
    try:
        store.ping()
    except StoreUnavailable as exc:
        raise StartupError(
            f"Redis at {settings.redis_url} does not answer ({exc}); "
            "start it or set FRAUDSCORE_REDIS_URL"
        ) from exc
    return store


def open_lists(settings: Settings) -> ListStore:
    """The allow and block lists on the same Redis and prefix, read once here: an unreachable
    Redis, or an ACL that leaves the list keys out, stops a worker at start-up."""
    lists = ListStore(
        redis_client(settings, settings.redis_socket_timeout_ms),
        prefix=settings.redis_key_prefix,
    )
    try:
        lists.version()
    except StoreUnavailable as exc:
        raise StartupError(
            f"Redis at {settings.redis_url}: cannot read the allow and block lists ({exc}); "
            "start it or set FRAUDSCORE_REDIS_URL"
        ) from exc
    return lists
