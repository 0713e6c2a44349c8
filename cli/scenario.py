"""``fraudscore scenario``: a tester's end-to-end check against workers that are already running.

It works wherever ``FRAUDSCORE_KAFKA_BOOTSTRAP_SERVERS`` points (docker compose, the local
services, a staging cluster) and starts nothing itself:

1. note where the score, alert and dead-letter topics end;
2. produce a small simulated stream (its own event-id prefix, so runs never mix) and a few
   malformed records carrying the run's marker;
3. read the three topics from the noted offsets until every event has its score record (or the
   timeout);
4. print one PASS/FAIL line per check, with counts, and exit 1 if any check failed.
"""

from __future__ import annotations

import json
import secrets
import string
import time
from dataclasses import dataclass, field

from confluent_kafka import Producer, TopicPartition

from cli.demo import end_offsets
from core.intake import COMPUTED_HEADERS
from core.kafka_errors import client_config
from core.pan import find_pans
from core.reading import reader, text_headers
from core.settings import Settings
from simulator.config import SimulationConfig
from simulator.generate import generate
from simulator.produce import produce_stream


@dataclass
class Seen:
    scores: dict[str, float] = field(default_factory=dict)
    duplicates: int = 0
    alerts: list[dict[str, object]] = field(default_factory=list)
    dead_letters: list[str] = field(default_factory=list)  # their reasons
    pan_like: int = 0  # outputs of this run with a PAN-like run


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _malformed(marker: str) -> list[bytes]:
    return [
        f'{{"event_id": "{marker}-a", "amount": 12.5'.encode(),  # cut short: not JSON
        json.dumps({"event_id": f"{marker}-b", "customer_id": "c1"}).encode(),  # fields missing
        json.dumps(  # a naive timestamp: the contract wants a time zone
            {
                "event_id": f"{marker}-c",
                "event_time": "2018-05-01T10:00:00",
                "customer_id": "c1",
                "terminal_id": "t1",
                "amount": 10,
            }
        ).encode(),
    ]


def run_scenario(
    s: Settings, *, customers: int = 50, days: int = 14, timeout_s: float = 180
) -> tuple[list[Check], int]:
    """Produce, collect, check; the checks and the number of events produced."""
    marker = "scn" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(8))
    topics = [s.topic_scores, s.topic_alerts, s.topic_dlq]
    start = end_offsets(s, topics)
    df = generate(SimulationConfig(n_customers=customers, n_terminals=2 * customers, n_days=days))
    stats = produce_stream(df, s, id_prefix=f"{marker}-", progress=False)
    bad = _malformed(marker)
    p = Producer(client_config(s))
    for value in bad:
        p.produce(s.topic_transactions, value, key=marker.encode())
    if p.flush(30):
        raise RuntimeError("the malformed records were not acknowledged within 30 s")
    expected = {f"{marker}-{i}" for i in df["TRANSACTION_ID"]}
    seen = _collect(s, start, marker, expected, timeout_s)
    return _checks(seen, expected, len(bad)), stats.transactions


def _collect(
    s: Settings, start: list[TopicPartition], marker: str, expected: set[str], timeout_s: float
) -> Seen:
    c = reader(s, f"{marker}-reader")
    c.assign(start)
    seen = Seen()
    deadline = time.monotonic() + timeout_s
    settle: float | None = None
    try:
        while time.monotonic() < deadline and (settle is None or time.monotonic() < settle):
            for m in c.consume(2000, 0.5):
                if m.error() is None and marker.encode() in (m.value() or b""):
                    _take(s, m.topic() or "", m.value() or b"", text_headers(m), seen)
            if settle is None and expected <= seen.scores.keys():
                settle = time.monotonic() + 3  # alerts and dead letters of the last batches
    finally:
        c.close()
    return seen


def _texts(obj: object) -> list[str]:
    """Every string of a decoded JSON value, keys included (numbers are scores and features:
    their long fractions are not card numbers)."""
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):  # model versions are ours, not input (dash-joined digit groups)
        items = [(k, v) for k, v in obj.items() if k not in ("model_version", "challenger_version")]
        return [t for k, v in items for t in (k, *_texts(v))]
    if isinstance(obj, list):
        return [t for v in obj for t in _texts(v)]
    return []


def _take(s: Settings, topic: str, value: bytes, headers: dict[str, str], seen: Seen) -> None:
    try:
        texts = _texts(json.loads(value))
    except ValueError:  # a dead letter need not be JSON
        texts = [value.decode("latin-1")]
    scanned = [v for k, v in headers.items() if k not in COMPUTED_HEADERS]
    if any(find_pans(t) for t in [*texts, *scanned]):
        seen.pan_like += 1
    if topic == s.topic_scores:
        rec = json.loads(value)
        if rec["event_id"] in seen.scores:
            seen.duplicates += 1
        seen.scores[rec["event_id"]] = float(rec["score"])
    elif topic == s.topic_alerts:
        seen.alerts.append(json.loads(value))
    elif topic == s.topic_dlq:
        seen.dead_letters.append(headers.get("reason", ""))


def _checks(seen: Seen, expected: set[str], n_bad: int) -> list[Check]:
    missing = expected - seen.scores.keys()
    explained = [a for a in seen.alerts if a.get("reasons")]
    above = [a for a in seen.alerts if seen.scores.get(str(a["event_id"]), -1.0) >= 0]
    return [
        Check("every event scored", not missing, f"{len(seen.scores):,} of {len(expected):,}"),
        Check("no duplicate score records", seen.duplicates == 0, f"{seen.duplicates:,}"),
        Check(
            "bad records dead-lettered with a reason",
            len(seen.dead_letters) == n_bad and all(seen.dead_letters),
            f"{len(seen.dead_letters)} of {n_bad}",
        ),
        Check(
            "alerts carry reasons and a scored event",
            len(explained) == len(seen.alerts) == len(above),
            f"{len(seen.alerts):,} alerts",
        ),
        Check("no card-number-like value in any output", seen.pan_like == 0, f"{seen.pan_like}"),
    ]
