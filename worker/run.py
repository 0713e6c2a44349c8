"""Start-up of a worker process: fail at start-up, not at message 10,000.

Checks, in order, each failing with one clear line: settings valid, a current model whose
features match the registry, Redis answers (the allow and block lists included), the input topic
exists. Warned, not failed: input topics kept shorter than a feature rebuild needs, and a feature
store that lost its history (``decision.history``; with ``wait_for_rebuild`` the worker waits,
not ready, for the rebuild). Then signals are wired
(SIGTERM/SIGINT set the stop event; the loop finishes its batch, commits and leaves the group)
and the loop runs.
"""

from __future__ import annotations

import gc
import logging
import threading

from core.errors import StartupError
from core.http import serve
from core.kafka import check_topics
from core.settings import Settings
from core.signals import stop_on_signals
from decision.history import await_rebuild, claim_history, retention_warnings
from decision.lists import ListSource
from decision.policy_store import PolicySource
from features.open import open_lists, open_store
from models.scorer import BACKENDS
from models.serving import ModelSource
from worker.clients import clients
from worker.guard import WorkerStats
from worker.loop import Worker
from worker.metrics import Health, WorkerMetrics

log = logging.getLogger(__name__)


def worker_topics(settings: Settings) -> list[str]:
    s = settings
    return [
        s.topic_transactions,
        s.topic_alerts,
        s.topic_scores,
        s.topic_dlq,
        s.topic_samples,
        s.topic_labels,
    ]


def run(
    settings: Settings,
    *,
    backend: str = "lightgbm",
    max_events: int | None = None,
    idle_timeout_s: float | None = None,
    stop: threading.Event | None = None,
    health: Health | None = None,
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
    list_store = open_lists(settings)
    check_topics(settings, worker_topics(settings), settings.group_id)
    for warning in retention_warnings(settings):
        log.warning("%s", warning)
    metrics, health = WorkerMetrics(), health or Health()
    if settings.metrics_port:
        serve(settings.metrics_port, metrics.registry, health)
    stop = stop or threading.Event()
    if (mark := claim_history(settings, store)) is not None:
        log.info("feature store history mark: %s (set by %s)", mark.since_ms, mark.by)
    elif settings.wait_for_rebuild:
        with stop_on_signals(stop):
            if await_rebuild(store, stop, health.beat) is None:
                return WorkerStats()  # stopped while waiting: nothing consumed
    policy = PolicySource(settings.model_dir, check_every_s=settings.model_check_interval_s)
    lists = ListSource(
        list_store,
        check_every_s=settings.list_check_interval_s,
        on_error=metrics.redis_errors.inc,
    )
    worker = Worker(
        settings,
        clients(settings, store),
        model,
        store,
        metrics,
        health,
        challenger=model.shadow,
        policy=policy,
        lists=lists,
    )
    # Everything loaded so far (model, libraries) lives as long as the process: move it out of
    # the collector's reach, so a full collection walks only what the loop allocates and does
    # not stall a batch for tens of milliseconds.
    gc.collect()
    gc.freeze()
    with stop_on_signals(stop):
        return worker.run(stop, max_events=max_events, idle_timeout_s=idle_timeout_s)
