"""One frozen settings object for every fraudscore process.

Every variable is read from the environment with the ``FRAUDSCORE_`` prefix (or a ``.env``
file), nowhere else: no ``os.getenv`` outside this module. librdkafka properties that have no
field of their own pass through ``FRAUDSCORE_KAFKA_CONFIG`` (a JSON object of dotted keys), so
SASL, SSL and any tuning key reach the clients unchanged; the secrets among them have
``SecretStr`` fields so they never show in a repr or a log line.
"""

from __future__ import annotations

import re
import socket
import typing
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from core.pan import mask_pans


class DeliveryMode(StrEnum):
    AT_LEAST_ONCE = "at-least-once"
    EXACTLY_ONCE = "exactly-once"


class RedisFailurePolicy(StrEnum):
    PAUSE = "pause"  # stop fetching, keep group membership, retry; nothing scored on garbage
    DEGRADE = "degrade"  # score with registry defaults and flag the output degraded


class Settings(BaseSettings):
    """Configuration of workers, sidecar, simulator and CLI (see README's table)."""

    model_config = SettingsConfigDict(
        env_prefix="FRAUDSCORE_",
        env_file=".env",
        extra="ignore",
        frozen=True,
        hide_input_in_errors=True,  # a rejected value may be a secret: never echo it
    )

    # Kafka
    kafka_bootstrap_servers: str = Field("127.0.0.1:19092", description="Kafka bootstrap servers")
    kafka_config: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='Extra librdkafka properties as JSON, e.g. {"security.protocol": "SASL_SSL"}',
    )
    kafka_sasl_password: SecretStr | None = Field(None, description="sasl.password")
    kafka_ssl_key_password: SecretStr | None = Field(None, description="ssl.key.password")
    group_id: str = Field("fraudscore-worker", description="Consumer group of the workers")
    worker_id: str = Field(
        default_factory=socket.gethostname,
        description="Stable id of this worker (transactional.id suffix, logs); default: hostname",
    )
    topic_transactions: str = "payments.transactions"
    topic_dlq: str = "payments.transactions.dlq"
    topic_alerts: str = "fraud.alerts"
    topic_scores: str = "fraud.scores"
    topic_samples: str = "fraud.samples"
    topic_labels: str = "fraud.labels"
    topic_drift: str = "fraud.drift"
    delivery: DeliveryMode = Field(DeliveryMode.AT_LEAST_ONCE, description="Delivery guarantee")

    # Batching
    batch_max_events: int = Field(500, ge=1, le=100_000, description="Close a batch at N events")
    batch_max_ms: int = Field(
        2, ge=0, le=60_000, description="... or T ms after its first event (0: take what is there)"
    )
    max_message_bytes: int = Field(64 * 1024, ge=1024, description="Larger events are rejected")
    max_event_ahead_s: float = Field(
        3600.0,
        gt=0,
        description="How far an event_time may be ahead of its Kafka record's timestamp and of "
        "the worker's clock; beyond it the event is a dead letter (one event must not move the "
        "windows' time)",
    )

    # Redis
    redis_url: str = Field(
        "redis://127.0.0.1:16379/0", description="Redis URL (redis:// or rediss://)"
    )
    redis_username: str | None = Field(None, description="Redis ACL user")
    redis_password: SecretStr | None = Field(None, description="Redis password")
    redis_tls_ca_file: Path | None = Field(
        None, description="CA certificate of a rediss:// server (default: the system's CAs)"
    )
    redis_tls_cert_file: Path | None = Field(None, description="Client certificate (mutual TLS)")
    redis_tls_key_file: Path | None = Field(None, description="Client key (mutual TLS)")
    redis_socket_timeout_ms: int = Field(50, ge=1, description="Per-call Redis timeout")
    redis_connect_timeout_ms: int = Field(100, ge=1, description="Redis connect timeout")
    redis_batch_budget_us_per_event: int = Field(
        300, ge=1, description="Added to the timeout of the per-batch script, per event"
    )
    redis_retries: int = Field(3, ge=0, description="Retries of a failed Redis call (with backoff)")
    redis_failure_policy: RedisFailurePolicy = RedisFailurePolicy.PAUSE
    wait_for_rebuild: bool = Field(
        False,
        description="A worker that finds the feature store emptied waits, not ready, until "
        "`fraudscore features rebuild` has run, instead of scoring flagged partial_history",
    )
    redis_cluster: bool = Field(
        False,
        description="Redis Cluster: FRAUDSCORE_REDIS_URL is any node; the prefix needs a {tag}",
    )
    redis_spread_slots: int = Field(
        0,
        ge=0,
        le=256,
        description="Spread customer, terminal and event keys over this many hash slots, one "
        "pipelined script call per slot, so every Redis Cluster shard serves its share; 0: "
        "every key in the prefix's slot. Changing it needs a feature rebuild",
    )
    redis_key_prefix: str = Field(
        "fs",
        min_length=1,
        max_length=32,
        # at most one non-empty {hash tag}: Redis Cluster then maps every key to one slot, which
        # the per-batch Lua script needs (docs/scaling.md)
        pattern=r"^[A-Za-z0-9_.:-]*(\{[A-Za-z0-9_.:-]+\}[A-Za-z0-9_.:-]*)?$",
        description="Key namespace",
    )
    feature_cache_ttl_s: int = Field(
        8 * 86_400, ge=60, description="How long an event's feature vector is kept for replays"
    )

    alignment_ms: int = Field(
        86_400_000, ge=0, description="Max event-time lead of a partition over the slowest one"
    )

    # Model and routing
    model_dir: Path = Field(Path("var/models"), description="Model registry root")
    challenger_version: str | None = Field(
        None, description="Pin the bundle scored in shadow (default: the registry's challenger)"
    )
    model_check_interval_s: float = Field(
        5.0, gt=0, description="How often workers look for a newly promoted model"
    )
    list_check_interval_s: float = Field(
        1.0, gt=0, description="How often workers look for a change to the allow and block lists"
    )
    sample_rate: float = Field(0.01, ge=0.0, le=1.0, description="Share of events sent for drift")
    reasons_top_k: int = Field(3, ge=1, le=10, description="Reasons attached to an alert")

    # Bad input
    dlq_max_share: float = Field(
        0.5, gt=0.0, le=1.0, description="Stop when more than this share of a window is bad"
    )
    dlq_window: int = Field(1000, ge=10, description="Events in the bad-input window")

    # Operations
    metrics_port: int = Field(0, ge=0, le=65535, description="Prometheus/health port, 0 = off")
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = Field(
        "text",
        description="text, or json: one object per line with topic/partition/offset fields",
    )

    # Drift sidecar
    reports_dir: Path = Field(Path("var/reports"), description="Drift report folder")
    drift_window: int = Field(2000, ge=50, description="Samples per drift report")
    drift_keep: int = Field(50, ge=1, description="Reports kept (oldest removed)")

    # Live performance (labels)
    perf_label_delay_days: float = Field(
        7.0,
        gt=0,
        le=120,
        description="Days labels take; a day is complete once labels pass its end plus this",
    )
    perf_budget_cards: int = Field(
        100, ge=1, le=100_000, description="k of card precision@k: cards analysts check per day"
    )
    perf_rolling_days: int = Field(
        7, ge=1, le=90, description="Complete days pooled in the rolling performance gauges"
    )
    perf_retention_days: int = Field(
        35, ge=2, le=400, description="Event days of score records and labels kept for the join"
    )
    perf_db: Path = Field(
        Path("var/perf/performance.sqlite3"),
        description="SQLite state of `fraudscore perf run` (kept out of the served reports_dir)",
    )
    perf_metrics_port: int = Field(
        0, ge=0, le=65535, description="/metrics and reports port of `fraudscore perf run`, 0 = off"
    )
    perf_group_id: str = Field(
        "fraudscore-perf", description="Consumer group of `fraudscore perf run` (scores + labels)"
    )
    perf_alarm_enabled: bool = Field(True, description="Evaluate the degradation alarm")
    perf_alarm_metric: str = Field(
        "precision",
        pattern=r"^(precision|recall|cp_at_k)$",
        description="Alarm metric: precision or recall (card-day, as the bundle states) or cp_at_k",
    )
    perf_alarm_days: int = Field(
        3, ge=1, le=60, description="Complete days pooled by the degradation alarm"
    )
    perf_alarm_margin: float = Field(
        0.1, ge=0.0, le=1.0, description="Alarm when the metric is this far below the expected"
    )
    perf_alarm_expected: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Expected alarm metric for every version, instead of the bundle's value",
    )

    # Retraining and promotion gate
    retrain_interval_s: float = Field(
        86_400.0, gt=0, description="Pause between two runs of `fraudscore retrain --schedule`"
    )
    retrain_days: int = Field(
        90,
        ge=42,
        le=3_650,
        description="Event-time days of traffic a retrain reads back, ending at the newest event",
    )
    retrain_history_days: int = Field(
        28, ge=7, le=3_650, description="A candidate trains on at most this many labelled days"
    )
    retrain_budget_per_day: float = Field(
        100.0, gt=0, description="Cards a day the candidate's review threshold is set to flag"
    )
    retrain_reports_dir: Path | None = Field(
        None, description="Retraining comparison reports (default: <reports_dir>/retrain)"
    )
    gate_metric: str = Field(
        "average_precision",
        pattern=r"^(average_precision|card_precision_at_100|auc)$",
        description="Holdout metric a candidate must beat the champion on to be promoted",
    )
    gate_margin: float = Field(
        0.01, ge=0.0, le=1.0, description="... by at least this much (absolute difference)"
    )
    gate_max_drop: float = Field(
        0.02,
        ge=0.0,
        le=1.0,
        description="The other metrics may fall at most this much below the champion's",
    )
    gate_min_auc: float = Field(0.7, ge=0.0, le=1.0, description="Floor: candidate's holdout AUC")
    gate_min_average_precision: float = Field(
        0.1, ge=0.0, le=1.0, description="Floor: candidate's holdout average precision"
    )
    gate_min_card_precision: float = Field(
        0.0, ge=0.0, le=1.0, description="Floor: candidate's holdout card precision@100"
    )

    @field_validator("redis_url")
    @classmethod
    def _no_password_in_url(cls, url: str) -> str:
        # A URL is shown in reprs and error messages; a password in it would leak there.
        if urlsplit(url).password:
            raise ValueError(
                "the Redis URL carries a password; set FRAUDSCORE_REDIS_PASSWORD (and "
                "FRAUDSCORE_REDIS_USERNAME) instead, so it is never shown"
            )
        return url

    def kafka_common(self) -> dict[str, Any]:
        """librdkafka properties shared by every client, secrets included."""
        conf: dict[str, Any] = {"bootstrap.servers": self.kafka_bootstrap_servers}
        # Every passthrough value is a SecretStr: keystore passwords and OAuth client secrets
        # have no field of their own, and must not show in a repr either.
        conf.update({k: v.get_secret_value() for k, v in self.kafka_config.items()})
        if self.kafka_sasl_password is not None:
            conf["sasl.password"] = self.kafka_sasl_password.get_secret_value()
        if self.kafka_ssl_key_password is not None:
            conf["ssl.key.password"] = self.kafka_ssl_key_password.get_secret_value()
        return conf


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def _secret(field: str) -> bool:
    info = Settings.model_fields.get(field)
    return info is not None and "SecretStr" in str(info.annotation)


def _shown(value: object) -> str:
    """A value fit to print: a URL's password starred, card numbers masked, long text cut."""
    text = value if isinstance(value, str) else repr(value)
    text = re.sub(r"(://[^/@]*?:)[^/@]*@", r"\1***@", text)
    return repr(mask_pans(text)[:60] + ("..." if len(text) > 60 else ""))


def settings_problems(exc: BaseException) -> list[str] | None:
    """One line per problem of the settings in ``exc``, naming the environment variable, its
    value (never a secret's) and what is allowed; None when ``exc`` is about something else.

    ``FRAUDSCORE_BATCH_MAX_EVENTS='abc': Input should be a valid integer, ...`` instead of a
    traceback that names the internal field.
    """
    if isinstance(exc, ValidationError) and exc.title == Settings.__name__:
        lines = []
        for e in exc.errors(include_url=False):
            field = str(e["loc"][0]) if e["loc"] else ""
            shown = "" if _secret(field) or "input" not in e else f"={_shown(e['input'])}"
            lines.append(f"FRAUDSCORE_{field.upper()}{shown}: {e['msg']}")
        return lines
    if isinstance(exc, SettingsError):
        m = re.search(r'field "(\w+)"', str(exc))
        field = m[1] if m else "?"
        cause = exc.__cause__
        why = f": {cause}" if cause is not None else ""
        kind = typing.get_origin(Settings.model_fields[field].annotation) if m else None
        expected = " (a JSON object)" if kind is dict else " (JSON)" if m else ""
        return [f"FRAUDSCORE_{field.upper()}: cannot be parsed{expected}{why}"]
    return None
