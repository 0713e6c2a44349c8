"""The benchmark's three fraud scenarios, as published, applied to time-sorted payments.

1. Every payment above 220 is fraud.
2. Each day a few terminals are compromised: all their payments that day and the next 27 days
   (28 in all) are fraud.
3. Each day a few customers are compromised: over that day and the next 13 (14 in all), one third
   of their payments, drawn at random, are multiplied by 5 and are fraud.

They are applied in that order, each over the previous labels, so the later scenario names the
label when two apply. The daily draws (:func:`draw_compromised`) are separate from the labelling,
so each rule is tested on a hand-made frame with a known compromise list.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from simulator.config import SimulationConfig
from simulator.extensions import daily_counts

AMOUNT_FRAUD_THRESHOLD = 220.0
TERMINAL_COMPROMISE_DAYS = 28
CUSTOMER_COMPROMISE_DAYS = 14
CUSTOMER_FRAUD_FACTOR = 5.0

Ints = npt.NDArray[np.int64]


def draw_compromised(
    expected: float, n_entities: int, n_days: int, rng: np.random.Generator
) -> list[Ints]:
    """For each day, the entities compromised that day (distinct within a day)."""
    per_day = daily_counts(expected, n_days, rng)
    return [
        rng.choice(n_entities, size=min(int(k), n_entities), replace=False).astype(np.int64)
        for k in per_day
    ]


def label_amount_fraud(tx: pd.DataFrame) -> None:
    """Scenario 1: sets TX_FRAUD and TX_FRAUD_SCENARIO from scratch."""
    big = (tx["TX_AMOUNT"] > AMOUNT_FRAUD_THRESHOLD).to_numpy().astype(np.int64)
    tx["TX_FRAUD"], tx["TX_FRAUD_SCENARIO"] = big, big.copy()


def label_terminal_fraud(tx: pd.DataFrame, compromised: list[Ints]) -> None:
    """Scenario 2: a terminal compromised on day d taints its payments on days d .. d + 27."""
    term, day = tx["TERMINAL_ID"].to_numpy(), tx["TX_TIME_DAYS"].to_numpy()
    if len(tx) == 0:
        return
    n_days = max(len(compromised), int(day.max()) + 1)
    table = np.zeros((int(term.max()) + 1, n_days), dtype=bool)  # (terminal, day) -> tainted
    for d, terminals in enumerate(compromised):
        known = terminals[terminals < len(table)]
        table[known, d : d + TERMINAL_COMPROMISE_DAYS] = True
    hit = table[term, day]
    tx.loc[hit, ["TX_FRAUD", "TX_FRAUD_SCENARIO"]] = (1, 2)


def label_customer_fraud(
    tx: pd.DataFrame, compromised: list[Ints], rng: np.random.Generator
) -> None:
    """Scenario 3: a customer compromised on day d has 1/3 of days d .. d + 13's payments x5.

    The third is drawn over the pooled payments of the day's compromised customers.
    """
    cust, day = tx["CUSTOMER_ID"].to_numpy(), tx["TX_TIME_DAYS"].to_numpy()
    by_customer = np.argsort(cust, kind="stable")  # per customer, still in time order
    n_customers = int(cust.max()) + 1 if len(tx) else 0
    starts = np.searchsorted(cust[by_customer], np.arange(n_customers + 1))
    amount = tx["TX_AMOUNT"].to_numpy().copy()
    fraud, scenario = tx["TX_FRAUD"].to_numpy().copy(), tx["TX_FRAUD_SCENARIO"].to_numpy().copy()
    for d, customers in enumerate(compromised):
        windows = [np.empty(0, np.int64)]
        for c in np.sort(customers[customers < n_customers]):  # the others never paid
            rows = by_customer[starts[c] : starts[c + 1]]
            lo, hi = np.searchsorted(day[rows], [d, d + CUSTOMER_COMPROMISE_DAYS])
            windows.append(rows[lo:hi])
        candidates = np.sort(np.concatenate(windows))
        picked = rng.choice(candidates, size=len(candidates) // 3, replace=False)
        amount[picked] = np.round(amount[picked] * CUSTOMER_FRAUD_FACTOR, 2)
        fraud[picked], scenario[picked] = 1, 3
    tx["TX_AMOUNT"], tx["TX_FRAUD"], tx["TX_FRAUD_SCENARIO"] = amount, fraud, scenario


def label_frauds(
    cfg: SimulationConfig, tx: pd.DataFrame, streams: dict[str, np.random.Generator]
) -> None:
    """Scenarios 1, 2, 3 in the published order, in place on a time-sorted frame."""
    label_amount_fraud(tx)
    rng = streams["terminal_fraud"]
    label_terminal_fraud(
        tx, draw_compromised(cfg.terminals_per_day(), cfg.n_terminals, cfg.n_days, rng)
    )
    rng = streams["customer_fraud"]
    customers = draw_compromised(cfg.customers_per_day(), cfg.n_customers, cfg.n_days, rng)
    label_customer_fraud(tx, customers, rng)
