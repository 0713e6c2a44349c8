"""The competent per-event baseline: the job as a careful engineer writes it one event at a time.

Not the naive loop's mistakes (``benchmarks/naive.py``), but still per event:

1. ``consume(500)``: messages fetched in batches, as librdkafka is meant to be used;
2. the worker's own ``decode`` (pydantic validation of each message, the same rules);
3. **one pipelined Redis round trip per event** doing the same window updates as the worker's
   script: add the event, prune, refresh TTLs, read the customer's 30 days with their scores
   (the three customer windows are summed here from that one read), and count the terminal
   windows;
4. the feature row as a float array and a **one-row** ``Booster.predict`` (``pred_contrib``
   for an alert's reasons);
5. **asynchronous produce** (``poll(0)`` serves delivery reports) and a **periodic commit**
   every second: flush what was produced, then commit what was processed (at-least-once).

Same keys and window rules as the naive loop and ``features/velocity.lua``; labels arrive on
the same consumer and update the terminal fraud sets.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import redis
from confluent_kafka import Message

from benchmarks.naive import SLACK_MS, NaiveScorer, NaiveStats, run_naive
from benchmarks.report import VariantResult
from core.messages import TransactionEvent
from core.settings import Settings
from decision.features import event_ms
from features.online import KEY_TTL_S
from features.registry import DAY_MS, FEATURE_NAMES, LABEL_DELAY_DAYS, WINDOWS_DAYS
from models.bundle import ModelBundle
from simulator.events import Outgoing

COMMIT_EVERY_S = 1.0
INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}


def competent_features(r: redis.Redis, prefix: str, ev: TransactionEvent) -> np.ndarray:
    """Update the windows with ``ev`` and read its features back in one pipelined round trip."""
    ts, cents = event_ms(ev), round(ev.amount * 100)
    ck = f"{prefix}:c:{ev.customer_id}"
    tk, fk = f"{prefix}:t:{ev.terminal_id}", f"{prefix}:tf:{ev.terminal_id}"
    delay = LABEL_DELAY_DAYS * DAY_MS
    cut = ts - delay - 30 * DAY_MS - SLACK_MS
    hi = ts - delay
    pipe = r.pipeline(transaction=False)
    pipe.zadd(ck, {f"{ev.event_id}:{cents}": ts})
    pipe.zremrangebyscore(ck, "-inf", ts - 30 * DAY_MS)
    pipe.expire(ck, KEY_TTL_S)
    pipe.zrangebyscore(ck, f"({ts - 30 * DAY_MS}", ts, withscores=True)
    pipe.zadd(tk, {ev.event_id: ts})
    pipe.zremrangebyscore(tk, "-inf", cut)
    pipe.expire(tk, KEY_TTL_S)
    pipe.zremrangebyscore(fk, "-inf", cut)
    for w in WINDOWS_DAYS:
        pipe.zcount(tk, f"({hi - w * DAY_MS}", hi)
        pipe.zcount(fk, f"({hi - w * DAY_MS}", hi)
    replies = pipe.execute()
    month, counts = replies[3], replies[8:]
    row = np.zeros(len(FEATURE_NAMES))
    local = ev.event_time
    row[INDEX["amount"]] = ev.amount
    row[INDEX["is_weekend"]] = float(local.weekday() >= 5)
    row[INDEX["is_night"]] = float(local.hour <= 6)
    for k, w in enumerate(WINDOWS_DAYS):
        inside = [m for m, when in month if when > ts - w * DAY_MS]
        n = len(inside)
        avg = sum(int(m.rsplit(b":", 1)[1]) for m in inside) / 100.0 / n if n else 0.0
        row[INDEX[f"customer_tx_count_{w}d"]] = float(n)
        row[INDEX[f"customer_avg_amount_{w}d"]] = avg
        row[INDEX[f"amount_to_customer_avg_{w}d"]] = ev.amount / avg if avg > 0 else 1.0
        txs, frauds = counts[2 * k], counts[2 * k + 1]
        row[INDEX[f"terminal_tx_count_{w}d"]] = float(txs)
        row[INDEX[f"terminal_risk_{w}d"]] = frauds / txs if txs else 0.0
    return row


class CompetentScorer(NaiveScorer):
    """Batched fetch, then per event: validate, one Redis trip, one-row predict, async produce;
    a commit every second."""

    def run(
        self,
        max_transactions: int,
        idle_timeout_s: float = 30.0,
        on_progress: Callable[[int], None] = lambda _n: None,
    ) -> NaiveStats:
        self.consumer.subscribe([self.s.topic_transactions, self.s.topic_labels])
        idle_since = last_commit = time.monotonic()
        pending = False
        try:
            while self.stats.transactions < max_transactions:
                msgs = [m for m in self.consumer.consume(500, 1.0) if m.error() is None]
                now = time.monotonic()
                if not msgs and now - idle_since > idle_timeout_s:
                    break
                if msgs:
                    idle_since = now
                for msg in msgs:
                    self.handle(msg)
                    self.producer.poll(0)
                pending = pending or bool(msgs)
                done = self.stats.transactions >= max_transactions
                if pending and (now - last_commit >= COMMIT_EVERY_S or done):
                    self.producer.flush(30)
                    self.consumer.commit(asynchronous=False)
                    last_commit, pending = now, False
                on_progress(self.stats.transactions)
        finally:
            self.producer.flush(30)
            self.consumer.close()
        return self.stats

    def _score(self, msg: Message, ev: TransactionEvent) -> None:
        values = competent_features(self.r, self.s.redis_key_prefix, ev)
        self.stats.redis_calls += 1
        row = values.reshape(1, -1)
        score = float(self.bundle.booster.predict(row)[0])
        self._publish(msg, ev, row, score, lambda: values)


def run_competent(
    s: Settings,
    bundle: ModelBundle,
    records: Sequence[Outgoing],
    *,
    loaded: Callable[[int], None],
    scored: Callable[[int], None],
) -> VariantResult:
    """Pre-load ``records``, run the competent loop over them in this process."""
    return run_naive(
        s,
        bundle,
        records,
        loaded=loaded,
        scored=scored,
        scorer=CompetentScorer,
        key="competent",
        name="competent per-event, saturation",
        calls="1 pipelined Redis round trip (14 commands)",
    )
