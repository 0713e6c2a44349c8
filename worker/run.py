"""Start-up of a worker process: fail at start-up, not at message 10,000.

Checks, in order, each failing with one clear line: settings valid, a current model whose
features match the registry, Redis answers, the input topic exists. Then signals are wired
(SIGTERM/SIGINT set the stop event; the loop finishes its batch, commits and leaves the group)
and the loop runs.
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
from types import FrameType

import redis
from confluent_kafka.admin import AdminClient
from redis.exceptions import RedisClusterException

from core.settings import Settings
from features.online import Client, OnlineStore, StoreUnavailable, TlsFiles, connect
from models.scorer import BACKENDS
from models.serving import ModelSource
from worker.loop import Worker, WorkerStats
from worker.metrics import Health, WorkerMetrics, serve

log = logging.getLogger(__name__)


class StartupError(Exception):
    """A precondition of serving is not met; the message says what to do."""


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


def check_topics(settings: Settings) -> None:
    admin = AdminClient(settings.kafka_common())
    try:
        meta = admin.list_topics(timeout=10)
    except Exception as exc:  # librdkafka raises KafkaException for an unreachable cluster
        raise StartupError(
            f"Kafka at {settings.kafka_bootstrap_servers} does not answer: "
            f"{exc}; start it or set FRAUDSCORE_KAFKA_BOOTSTRAP_SERVERS"
        ) from exc
    needed = [
        settings.topic_transactions,
        settings.topic_alerts,
        settings.topic_scores,
        settings.topic_dlq,
        settings.topic_samples,
        settings.topic_labels,
    ]
    missing = [t for t in needed if t not in meta.topics]
    if missing:
        raise StartupError(f"topics missing: {missing}; create them (`fraudscore services topics`)")


def install_signal_handlers(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        log.info("signal %s: finishing the current batch, then stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run(
    settings: Settings,
    *,
    backend: str = "lightgbm",
    max_events: int | None = None,
    idle_timeout_s: float | None = None,
    stop: threading.Event | None = None,
) -> WorkerStats:
    if backend not in BACKENDS:
        raise StartupError(f"unknown scoring backend {backend!r}; use one of {list(BACKENDS)}")
    model = ModelSource(
        settings.model_dir,
        backend=backend,
        check_every_s=settings.model_check_interval_s,
        # the setting pins one; else the version the promotion gate keeps as challenger, followed
        challenger=settings.challenger_version or None,  # "" (an unset compose var): follow
    )
    store = open_store(settings)
    check_topics(settings)
    metrics, health = WorkerMetrics(), Health()
    if settings.metrics_port:
        serve(settings.metrics_port, metrics, health)
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        install_signal_handlers(stop)
    worker = Worker(settings, model, store, metrics, health, challenger=model.shadow)
    # Everything loaded so far (model, libraries) lives as long as the process: move it out of
    # the collector's reach, so a full collection walks only what the loop allocates and does
    # not stall a batch for tens of milliseconds.
    gc.collect()
    gc.freeze()
    return worker.run(stop, max_events=max_events, idle_timeout_s=idle_timeout_s)
