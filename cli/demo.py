"""``fraudscore demo``: the whole system on this machine, start to summary.

1. start local Kafka + Redis (``devstack``; a second run reuses them);
2. simulate a labelled dataset (cached under ``var/demo``) and train a model if the registry has
   none;
3. start N worker processes and the drift sidecar as real subprocesses;
4. produce the simulated stream (transactions and their delayed labels, in event time) plus a few
   malformed records;
5. read ``fraud.scores``, ``fraud.alerts`` and the dead-letter topic from where they ended before
   the run, until every produced event has its score record;
6. stop the processes with SIGTERM and print the summary: counts, alert precision/recall against
   the simulator's labels on the weeks the model never saw, throughput, where the reports are.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pandas as pd
from confluent_kafka import Producer, TopicPartition
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from core.kafka_errors import client_config
from core.reading import end_offsets as kafka_end_offsets
from core.reading import headers, reader
from core.settings import Settings
from devstack import DevstackError, up
from simulator.config import SimulationConfig
from simulator.dataset import read_dataset, write_dataset
from simulator.events import default_id_prefix
from simulator.generate import generate
from simulator.produce import produce_stream

DEMO_DIR = Path("var/demo")
MALFORMED = [
    b'{"event_id": "demo-bad-1", "amount": 12.5',
    b'{"event_id": "demo-bad-2", "event_time": "2018-05-01T10:00:00Z", "customer_id": '
    b'"4111111111111111", "terminal_id": "t1", "amount": 10}',
    b'{"event_id": "demo-bad-3", "event_time": "2018-05-01T10:00:00", "customer_id": "c1", '
    b'"terminal_id": "t1", "amount": 10}',
]


class DemoError(Exception):
    """Something the user can fix stopped the demo; the message says what."""


@dataclass
class Collected:
    scores: dict[str, dict[str, object]] = field(default_factory=dict)
    duplicates: int = 0
    alerts: dict[str, dict[str, object]] = field(default_factory=dict)
    dead_letters: list[dict[str, str]] = field(default_factory=list)


def dataset(config: SimulationConfig, console: Console) -> pd.DataFrame:
    path = DEMO_DIR / f"transactions-{default_id_prefix(config).rstrip('-')}.parquet"
    if path.exists():
        return read_dataset(path)
    with console.status("simulating transactions"):
        df = generate(config)
        write_dataset(df, path)
    return df


def ensure_model(df: pd.DataFrame, settings: Settings, console: Console) -> str:
    from models import registry
    from models.protocol import fold_starts
    from models.train import train_model

    current = registry.current_version(settings.model_dir)
    if current is not None:
        return current
    start = fold_starts(df, 1)[0]
    with console.status(f"training a first model (test week from {start + timedelta(14)})"):
        budget = max(1.0, 100 * df["CUSTOMER_ID"].nunique() / 5000)  # the benchmark's 100 per 5k
        result = train_model(df, train_start=start, budget_per_day=budget)
        bundle = registry.add_bundle(settings.model_dir, result, [result], promote_it=True)
    return bundle.version


def spawn(args: list[str], name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    log = (DEMO_DIR / f"{name}.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **env},
    )


def end_offsets(settings: Settings, topics: list[str]) -> list[TopicPartition]:
    c = reader(settings, "fraudscore-demo-reader")
    try:
        return kafka_end_offsets(c, topics)
    finally:
        c.close()


def collect(
    settings: Settings,
    start: list[TopicPartition],
    expected: set[str],
    timeout_s: float,
    progress: Progress,
) -> Collected:
    c = reader(settings, "fraudscore-demo-reader")
    c.assign(start)
    got = Collected()
    task = progress.add_task("scored", total=len(expected))
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and not expected <= got.scores.keys():
            for m in c.consume(2000, 0.5):
                if m.error() is None:
                    _record(m.topic() or "", m.value() or b"", headers(m), settings, got)
            progress.update(task, completed=len(expected & got.scores.keys()))
        drain_end = time.monotonic() + 3  # late alerts and dead letters of the last batches
        while time.monotonic() < drain_end:
            for m in c.consume(2000, 0.5):
                if m.error() is None:
                    _record(m.topic() or "", m.value() or b"", headers(m), settings, got)
    finally:
        c.close()
    return got


def _record(
    topic: str, value: bytes, headers: list[tuple[str, bytes]], s: Settings, got: Collected
) -> None:
    if topic == s.topic_scores:
        rec = json.loads(value)
        if rec["event_id"] in got.scores:
            got.duplicates += 1
        got.scores[rec["event_id"]] = rec
    elif topic == s.topic_alerts:
        rec = json.loads(value)
        got.alerts[rec["event_id"]] = rec
    elif topic == s.topic_dlq:
        got.dead_letters.append({k: v.decode("utf-8", "replace") for k, v in headers})


def stop_all(procs: list[subprocess.Popen[bytes]], grace_s: float = 30) -> list[int | None]:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
    return [p.returncode for p in procs]


def local_settings(console: Console) -> Settings:
    """Settings pointing at the services: the environment's addresses if both are given,
    otherwise the local processes, started (or found running) on their configured ports."""
    settings = Settings()
    if {"kafka_bootstrap_servers", "redis_url"} <= settings.model_fields_set:
        return settings
    try:
        status = up(console=console)
    except DevstackError as exc:
        raise DemoError(f"local services did not start: {exc}") from exc
    return Settings(kafka_bootstrap_servers=status.kafka.address, redis_url=status.redis.address)


def run_demo(*, days: int, customers: int, n_workers: int) -> None:
    console = Console()
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    settings = local_settings(console)
    config = SimulationConfig(n_customers=customers, n_terminals=2 * customers, n_days=days, seed=7)
    df = dataset(config, console)
    version = ensure_model(df, settings, console)
    id_prefix = default_id_prefix(config)
    env = {
        "FRAUDSCORE_SAMPLE_RATE": "0.05",
        "FRAUDSCORE_DRIFT_WINDOW": "1000",
        "FRAUDSCORE_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "FRAUDSCORE_REDIS_URL": settings.redis_url,
    }
    start = end_offsets(
        settings, [settings.topic_scores, settings.topic_alerts, settings.topic_dlq]
    )
    procs = [
        spawn(
            ["worker"],
            f"worker-{i}",
            {**env, "FRAUDSCORE_WORKER_ID": f"demo-{i}", "FRAUDSCORE_METRICS_PORT": str(9108 + i)},
        )
        for i in range(1, n_workers + 1)
    ]
    procs.append(spawn(["drift", "run"], "drift", env))
    try:
        t0 = time.monotonic()
        console.print(f"producing {len(df):,} transactions with labels (model {version})")
        stats = produce_stream(df, settings, id_prefix=id_prefix, progress=True)
        _produce_malformed(settings)
        expected = {f"{id_prefix}{i}" for i in df["TRANSACTION_ID"]}
        with Progress(console=console) as progress:
            got = collect(settings, start, expected, timeout_s=300, progress=progress)
        elapsed = time.monotonic() - t0
    finally:
        codes = stop_all(procs)
    summary(console, df, id_prefix, stats.transactions, got, elapsed, codes, settings, version)
    if not expected <= got.scores.keys():
        raise DemoError(
            f"{len(expected - got.scores.keys())} events were not scored; "
            f"see the logs in {DEMO_DIR}"
        )


def _produce_malformed(settings: Settings) -> None:
    p = Producer(client_config(settings))
    for value in MALFORMED:
        p.produce(settings.topic_transactions, value, key=b"demo-bad")
    if p.flush(30):
        raise DemoError("the malformed demo records were not acknowledged")


def summary(
    console: Console,
    df: pd.DataFrame,
    id_prefix: str,
    produced: int,
    got: Collected,
    elapsed: float,
    codes: list[int | None],
    settings: Settings,
    version: str,
) -> None:
    last = pd.Timestamp(df["TX_DATETIME"].max()).normalize()
    unseen = df[df["TX_DATETIME"] >= last - timedelta(days=6)]  # the model's test week
    ids = id_prefix + unseen["TRANSACTION_ID"].astype(str)
    frauds = set(ids[unseen["TX_FRAUD"].to_numpy() == 1])
    alerted = {i for i in ids if i in got.alerts}
    precision = len(alerted & frauds) / len(alerted) if alerted else 0.0
    recall = len(alerted & frauds) / len(frauds) if frauds else 0.0
    table = Table(title="fraudscore demo", show_header=False)
    rows = [
        ("model version", version),
        ("events produced", f"{produced:,}"),
        ("events scored (unique)", f"{len(got.scores):,}"),
        ("duplicate score records", f"{got.duplicates:,}"),
        ("alerts", f"{len(got.alerts):,}"),
        ("dead letters", f"{len(got.dead_letters):,}"),
        ("alert precision, unseen week", f"{precision:.2f}  ({len(alerted)} alerts)"),
        ("alert recall, unseen week", f"{recall:.2f}  ({len(frauds)} frauds)"),
        ("throughput", f"{len(got.scores) / elapsed:,.0f} events/s end to end"),
        ("worker exit codes", ", ".join(str(c) for c in codes)),
        ("drift reports", str(settings.reports_dir.resolve() / "index.html")),
        ("logs", str(DEMO_DIR.resolve())),
    ]
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)
    for dl in got.dead_letters[:3]:
        console.print(f"dead letter ({dl.get('stage')}): {dl.get('reason')}")
