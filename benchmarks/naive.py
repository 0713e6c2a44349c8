"""The naive baseline: the same job written the straightforward way, one message at a time.

What makes it naive is on purpose (docs/performance.md, "naive code" column):

1. ``poll(1)``: one message per call;
2. pydantic validation of each message (the worker's own ``decode``: same rules, same cost);
3. one Redis command per piece of a feature, 16 round trips per event: ZADD, EXPIRE and a prune
   per set, a ZRANGEBYSCORE per customer window, a ZCOUNT per terminal window and fraud set;
4. the feature row as a dict, a one-row pandas DataFrame, ``Booster.predict`` on it (and
   ``pred_contrib`` on it for an alert's reasons);
5. produce the outputs, ``flush()``, then a synchronous ``commit`` of this one message.

The keys and window rules are the ones of ``features/velocity.lua`` (without its replay cache), so
both implementations compute the same features from the same Redis state: two ways of doing one
job, not two jobs. Labels arrive on the same consumer and update the terminal fraud sets.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import numpy.typing as npt
import pandas as pd
import redis
from confluent_kafka import Consumer, Message, Producer

from benchmarks.data import count_tx
from benchmarks.infra import load_input, score_times
from benchmarks.report import VariantResult
from benchmarks.stats import steady_rate
from core.decode import Rejection, decode
from core.intake import dead_letter
from core.kafka_errors import client_config
from core.messages import Alert, Sample, ScoreRecord, TransactionEvent
from core.records import InRecord
from core.settings import Settings
from decision.features import event_ms, parse_labels
from decision.outputs import alert_id, is_sampled
from features.online import KEY_TTL_S
from features.registry import DAY_MS, FEATURE_NAMES, LABEL_DELAY_DAYS, WINDOWS_DAYS
from models.bundle import ModelBundle
from models.reasons import top_reasons
from simulator.events import Outgoing

SLACK_MS = 7 * DAY_MS  # as velocity.lua: terminal sets are pruned this much later


@dataclass
class NaiveStats:
    transactions: int = 0
    labels: int = 0
    alerts: int = 0
    dead_letters: int = 0
    redis_calls: int = 0


def naive_features(r: redis.Redis, prefix: str, ev: TransactionEvent) -> dict[str, float]:
    """Update the windows with ``ev`` and read its features back, one command at a time."""
    ts, cents = event_ms(ev), round(ev.amount * 100)
    ck, tk, fk = (
        f"{prefix}:{kind}:{ident}"
        for kind, ident in (("c", ev.customer_id), ("t", ev.terminal_id), ("tf", ev.terminal_id))
    )
    r.zadd(ck, {f"{ev.event_id}:{cents}": ts})
    r.zremrangebyscore(ck, "-inf", ts - 30 * DAY_MS)
    r.expire(ck, KEY_TTL_S)
    local = ev.event_time
    feats = {
        "amount": ev.amount,
        "is_weekend": float(local.weekday() >= 5),
        "is_night": float(local.hour <= 6),
    }
    for w in WINDOWS_DAYS:
        members = cast(list[bytes], r.zrangebyscore(ck, f"({ts - w * DAY_MS}", ts))
        total = sum(int(m.rsplit(b":", 1)[1]) for m in members) / 100.0
        avg = total / len(members) if members else 0.0
        feats[f"customer_tx_count_{w}d"] = float(len(members))
        feats[f"customer_avg_amount_{w}d"] = avg
        feats[f"amount_to_customer_avg_{w}d"] = ev.amount / avg if avg > 0 else 1.0
    delay = LABEL_DELAY_DAYS * DAY_MS
    r.zadd(tk, {ev.event_id: ts})
    r.zremrangebyscore(tk, "-inf", ts - delay - 30 * DAY_MS - SLACK_MS)
    r.expire(tk, KEY_TTL_S)
    r.zremrangebyscore(fk, "-inf", ts - delay - 30 * DAY_MS - SLACK_MS)
    hi = ts - delay
    for w in WINDOWS_DAYS:
        count = r.zcount(tk, f"({hi - w * DAY_MS}", hi)
        frauds = r.zcount(fk, f"({hi - w * DAY_MS}", hi)
        feats[f"terminal_tx_count_{w}d"] = float(count)
        feats[f"terminal_risk_{w}d"] = frauds / count if count else 0.0
    return feats


REDIS_CALLS_PER_EVENT = 16


class NaiveScorer:
    """Consume -> validate -> features -> predict -> produce -> flush -> commit, per message."""

    def __init__(self, s: Settings, bundle: ModelBundle) -> None:
        self.s, self.bundle = s, bundle
        password = s.redis_password.get_secret_value() if s.redis_password else None
        self.r: redis.Redis = redis.Redis.from_url(
            s.redis_url, username=s.redis_username, password=password
        )
        self.consumer = Consumer(
            {
                **client_config(s),
                "group.id": s.group_id,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        self.producer = Producer(client_config(s))
        self.stats = NaiveStats()

    def run(
        self,
        max_transactions: int,
        idle_timeout_s: float = 30.0,
        on_progress: Callable[[int], None] = lambda _n: None,
    ) -> NaiveStats:
        self.consumer.subscribe([self.s.topic_transactions, self.s.topic_labels])
        idle_since = time.monotonic()
        try:
            while self.stats.transactions < max_transactions:
                msg = self.consumer.poll(1.0)
                if msg is None or msg.error() is not None:
                    if time.monotonic() - idle_since > idle_timeout_s:
                        break
                    continue
                idle_since = time.monotonic()
                self.handle(msg)
                self.producer.flush(30)
                self.consumer.commit(message=msg, asynchronous=False)
                if self.stats.transactions % 100 == 0:
                    on_progress(self.stats.transactions)
        finally:
            self.consumer.close()
        return self.stats

    def handle(self, msg: Message) -> None:
        if msg.topic() == self.s.topic_labels:
            self._label(msg.value() or b"")
            return
        self.stats.transactions += 1
        result = decode(msg.value(), max_bytes=self.s.max_message_bytes)
        if isinstance(result, Rejection):
            rec = InRecord(
                msg.topic() or "",
                msg.partition() or 0,
                msg.offset() or 0,
                msg.timestamp()[1],
                msg.key(),
                msg.value(),
            )
            out = dead_letter(rec, result, self.s.topic_dlq)
            self.producer.produce(out.topic, out.value, out.key, headers=list(out.headers))
            self.stats.dead_letters += 1
            return
        self._score(msg, result)

    def _score(self, msg: Message, ev: TransactionEvent) -> None:
        feats = naive_features(self.r, self.s.redis_key_prefix, ev)
        self.stats.redis_calls += REDIS_CALLS_PER_EVENT
        row = pd.DataFrame([feats], columns=list(FEATURE_NAMES))
        score = float(self.bundle.booster.predict(row)[0])
        self._publish(msg, ev, row, score, lambda: row.iloc[0].to_numpy())

    def _publish(
        self,
        msg: Message,
        ev: TransactionEvent,
        row: pd.DataFrame | npt.NDArray[np.float64],
        score: float,
        values: Callable[[], npt.NDArray[np.float64]],
    ) -> None:
        """The alert (if flagged), the score record and the sample (if sampled) of one event:
        ``row`` is what was predicted on, ``values()`` its features in registry order."""
        alerted = score >= self.bundle.threshold
        if alerted:
            self._alert(ev, row, score, values())
        record = ScoreRecord(
            event_id=ev.event_id,
            event_time=ev.event_time,
            customer_id=ev.customer_id,
            topic=msg.topic() or "",
            partition=msg.partition() or 0,
            offset=msg.offset() or 0,
            score=score,
            model_version=self.bundle.version,
            alerted=alerted,
        )
        key = ev.customer_id.encode()
        self.producer.produce(self.s.topic_scores, record.model_dump_json().encode(), key)
        if is_sampled(ev.event_id, self.s.sample_rate):
            sample = Sample(
                event_id=ev.event_id,
                event_time=ev.event_time,
                model_version=self.bundle.version,
                score=score,
                features=dict(zip(FEATURE_NAMES, values().tolist(), strict=True)),
            )
            self.producer.produce(
                self.s.topic_samples, sample.model_dump_json().encode(), ev.event_id.encode()
            )

    def _alert(
        self,
        ev: TransactionEvent,
        row: pd.DataFrame | npt.NDArray[np.float64],
        score: float,
        values: npt.NDArray[np.float64],
    ) -> None:
        contrib = self.bundle.booster.predict(row, pred_contrib=True)[0]
        b = self.bundle
        alert = Alert.from_event(
            ev,
            alert_id=alert_id(ev.event_id),
            score=score,
            threshold=b.threshold,
            tier="block" if score >= b.block_threshold else "review",
            model_version=b.version,
            reasons=top_reasons(contrib, values, self.s.reasons_top_k),
        )
        self.producer.produce(
            self.s.topic_alerts, alert.model_dump_json().encode(), ev.customer_id.encode()
        )
        self.stats.alerts += 1

    def _label(self, value: bytes) -> None:
        for label in parse_labels([value]):  # an invalid label is logged and skipped
            key = f"{self.s.redis_key_prefix}:tf:{label.terminal_id}"
            if label.is_fraud:
                self.r.zadd(key, {label.event_id: label.event_ms})
                self.r.expire(key, KEY_TTL_S)
            else:
                self.r.zrem(key, label.event_id)
            self.stats.labels += 1


def run_naive(
    s: Settings,
    bundle: ModelBundle,
    records: Sequence[Outgoing],
    *,
    loaded: Callable[[int], None],
    scored: Callable[[int], None],
    scorer: type[NaiveScorer] | None = None,
    key: str = "naive",
    name: str = "naive, saturation",
    calls: str = "",
) -> VariantResult:
    """Pre-load ``records``, run the naive loop (or ``scorer``'s) over them in this process,
    measure the rate."""
    n = count_tx(records)
    load_input(s, records, loaded)
    loop = (scorer or NaiveScorer)(s, bundle)
    cpu0, t0 = time.process_time(), time.monotonic()
    stats = loop.run(n, on_progress=scored)
    wall, cpu = time.monotonic() - t0, time.process_time() - cpu0
    times, _, dups = score_times(s)
    rate = steady_rate(times)
    per_event = calls or f"{stats.redis_calls / max(stats.transactions, 1):.0f} Redis calls"
    return VariantResult(
        key=key,
        name=name,
        events=n,
        outputs=len(times),
        events_per_s=rate.events_per_s if rate else None,
        duplicates=dups,
        wall_s=wall,
        cpu_s=cpu,
        note=f"in-process, {per_event} per event, {stats.labels} labels, {stats.alerts} alerts; "
        f"{n / wall:,.0f} events/s by the loop's own clock",
    )
