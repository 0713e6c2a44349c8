"""Worker metrics (Prometheus) and what its health endpoints report (served by ``core.http``).

``/metrics`` is the Prometheus exposition; ``/healthz`` answers 200 while the loop has turned
within the last ``stale_after_s`` seconds (a stuck loop fails it, so an orchestrator restarts
the process); ``/readyz`` answers 200 once the worker has a model, a Redis answer and a partition
assignment, and 503 while it is paused on a Redis outage.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from core.records import InRecord, OutRecord
from decision.core import Decisions
from decision.outputs import Routed

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass
class WorkerMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.events_in = Counter("fraudscore_events_in", "Records consumed", registry=r)
        self.events_scored = Counter("fraudscore_events_scored", "Events scored", registry=r)
        self.alerts = Counter("fraudscore_alerts", "Alerts published", ["tier"], registry=r)
        self.dead_letters = Counter(
            "fraudscore_dead_letters", "Records dead-lettered", ["stage"], registry=r
        )
        self.degraded = Counter("fraudscore_events_degraded", "Scored with defaults", registry=r)
        self.partial = Counter(
            "fraudscore_events_partial_history",
            "Scored on windows missing history (the store lost its state)",
            registry=r,
        )
        self.samples = Counter("fraudscore_samples", "Samples published for drift", registry=r)
        self.redis_errors = Counter("fraudscore_redis_errors", "Failed Redis calls", registry=r)
        self.aborted = Counter(
            "fraudscore_transactions_aborted", "Exactly-once batches aborted and redone", registry=r
        )
        self.batch_size = Histogram(
            "fraudscore_batch_size",
            "Records per batch",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000),
            registry=r,
        )
        self.stage_seconds = Histogram(
            "fraudscore_stage_seconds",
            "Time per batch stage",
            ["stage"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.event_to_score_seconds = Histogram(
            "fraudscore_event_to_output_seconds",
            "Wall time from the event's Kafka timestamp to its outputs being acknowledged",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.rule_failures = Counter(
            "fraudscore_rule_failures",
            "Events a policy rule could not be evaluated on (decided without it)",
            ["rule"],
            registry=r,
        )
        self.decisions = Counter(
            "fraudscore_decisions", "Decisions by action", ["action"], registry=r
        )
        self.list_hits = Counter(
            "fraudscore_list_hits",
            "Events an allow or block list matched, by list (list:<kind>:<field>)",
            ["list"],
            registry=r,
        )
        self.lists_version = Gauge(
            "fraudscore_lists_version", "Version of the allow and block lists in force", registry=r
        )
        self.lag = Gauge(
            "fraudscore_consumer_lag", "Records behind the end", ["partition"], registry=r
        )
        self.model_version = Gauge(
            "fraudscore_model_info", "Serving model", ["version"], registry=r
        )
        self.paused = Gauge(
            "fraudscore_paused",
            "1 while input is paused: reason redis (outage) or output (producer queue full, "
            "acknowledgements pending)",
            ["reason"],
            registry=r,
        )

    def batch(
        self,
        records: list[InRecord],
        dead: list[OutRecord],
        scored: Routed,
        d: Decisions,
        now_ms: float,
    ) -> None:
        """A committed batch: records in, events scored, dead letters by stage, alerts,
        decisions, and each record's time from its Kafka timestamp to now."""
        self.events_in.inc(len(records))
        self.events_scored.inc(len(d))
        self.samples.inc(scored.sampled)
        if d.degraded:
            self.degraded.inc(len(d))
        if d.partial is not None:
            self.partial.inc(int(d.partial.sum()))
        for out in dead:
            self.dead_letters.labels(dict(out.headers).get("stage", b"?").decode()).inc()
        self.alerts.labels("any").inc(scored.alerts)
        self.decided(d)
        for r in records:
            if r.timestamp_ms > 0:
                self.event_to_score_seconds.observe(max(0.0, now_ms - r.timestamp_ms) / 1000)

    def decided(self, d: Decisions) -> None:
        """A batch's decisions: by action, by list matched, and the rules that failed."""
        blocks = sum(t == "block" for t in d.tiers.values())
        self.decisions.labels("block").inc(blocks)
        self.decisions.labels("review").inc(len(d.tiers) - blocks)
        self.decisions.labels("allow").inc(len(d) - len(d.tiers))
        for list_id, n in d.list_hits.items():
            self.list_hits.labels(list_id).inc(n)
        if d.lists_version is not None:
            self.lists_version.set(d.lists_version)
        for rule, n in d.rule_failures.items():
            self.rule_failures.labels(rule).inc(n)


@dataclass
class Health:
    """What the health endpoints report, updated by the loop."""

    stale_after_s: float = 30.0
    last_turn: float = field(default_factory=time.monotonic)
    model_loaded: bool = False
    redis_ok: bool = False
    assigned: bool = False
    paused: bool = False

    def beat(self) -> None:
        self.last_turn = time.monotonic()

    def live(self) -> bool:
        return time.monotonic() - self.last_turn < self.stale_after_s

    def ready(self) -> bool:
        return self.live() and self.model_loaded and self.redis_ok and not self.paused
