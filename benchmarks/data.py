"""The benchmark's input: simulated traffic, encoded once, shared by every variant.

The dataset comes from the benchmark-faithful simulator. Its first ``history_days`` are not
replayed through Kafka: they are written straight into each variant's Redis windows
(``infra.seed_history``), so the measured events meet 30-day windows as full as a worker that has
been running for a month sees. The remaining days are encoded once to wire records
(transactions and their delayed labels, in event time) and replayed to every variant.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pandas as pd
from rich.console import Console

from features.online import StoreEvent, StoreLabel
from simulator.config import SimulationConfig
from simulator.events import Outgoing, default_id_prefix, event_stream
from simulator.generate import generate

TX_PER_CUSTOMER_DAY = 1.9  # the simulator's mean, measured (published: ~1.9)


@dataclass(frozen=True)
class BenchData:
    config: SimulationConfig
    history: list[StoreEvent]  # seeded into Redis, never replayed
    history_labels: list[StoreLabel]
    stream: list[Outgoing]  # the measured part, labels included, in event time

    @property
    def transactions(self) -> int:
        return count_tx(self.stream)


def count_tx(records: Sequence[Outgoing]) -> int:
    return sum(1 for r in records if r.kind == "transaction")


def take(records: Sequence[Outgoing], n_tx: int) -> list[Outgoing]:
    """The records up to and including the ``n_tx``-th transaction (labels in between kept)."""
    seen = 0
    for i, rec in enumerate(records):
        if rec.kind == "transaction":
            seen += 1
            if seen == n_tx:
                return list(records[: i + 1])
    return list(records)


def split_at(records: Sequence[Outgoing], n_tx: int) -> tuple[list[Outgoing], list[Outgoing]]:
    head = take(records, n_tx)
    return head, list(records[len(head) :])


def days_for(customers: int, events: int, history_days: int) -> int:
    """Days to simulate so that ``events`` transactions follow the history (10% margin)."""
    return history_days + math.ceil(1.1 * events / (TX_PER_CUSTOMER_DAY * customers)) + 1


def _store_events(df: pd.DataFrame, id_prefix: str) -> list[StoreEvent]:
    ms = pd.DatetimeIndex(df["TX_DATETIME"]).as_unit("ms").asi8.tolist()
    return [
        StoreEvent(f"{id_prefix}{tid}", f"c{cid}", f"t{term}", when, round(amount * 100))
        for tid, cid, term, when, amount in zip(
            df["TRANSACTION_ID"].tolist(),
            df["CUSTOMER_ID"].tolist(),
            df["TERMINAL_ID"].tolist(),
            ms,
            df["TX_AMOUNT"].tolist(),
            strict=True,
        )
    ]


def build(*, customers: int, days: int, history_days: int, seed: int) -> BenchData:
    """Simulate, split history from the measured part, encode the measured part."""
    config = SimulationConfig(
        n_customers=customers, n_terminals=2 * customers, n_days=days, seed=seed
    )
    df = generate(config)
    prefix = default_id_prefix(config)
    cut = pd.Timestamp(config.start_date) + timedelta(days=history_days)
    past, measured = df[df["TX_DATETIME"] < cut], df[df["TX_DATETIME"] >= cut]
    history = _store_events(past, prefix)
    frauds = past["TX_FRAUD"].to_numpy() == 1
    labels = [
        StoreLabel(e.event_id, e.terminal_id, e.event_ms, True)
        for e, fraud in zip(history, frauds, strict=True)
        if fraud
    ]
    return BenchData(config, history, labels, list(event_stream(measured, prefix)))


def build_at_least(*, customers: int, events: int, history_days: int, seed: int) -> BenchData:
    """``build`` with enough days for ``events`` transactions after the history."""
    days = days_for(customers, events, history_days)
    while True:
        d = build(customers=customers, days=days, history_days=history_days, seed=seed)
        if d.transactions >= events:
            return d
        days = history_days + math.ceil((days - history_days) * 1.3)


def ensure_model(model_dir: Path, console: Console, seed: int) -> str:
    """The registry's current version; a small model is trained and promoted if there is none."""
    from models import registry
    from models.protocol import fold_starts
    from models.train import train_model

    current = registry.current_version(model_dir)
    if current is not None:
        return current
    config = SimulationConfig(n_customers=600, n_terminals=1200, n_days=60, seed=seed + 1)
    with console.status(f"no model in {model_dir}: training a small one"):
        df = generate(config)
        budget = max(1.0, 100 * df["CUSTOMER_ID"].nunique() / 5000)
        result = train_model(df, train_start=fold_starts(df, 1)[0], budget_per_day=budget)
        bundle = registry.add_bundle(model_dir, result, [result], promote_it=True)
    return bundle.version
