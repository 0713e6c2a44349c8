"""Small labelled transaction frames with the published columns, for tests and demos.

A cut-down version of the benchmark's process (customers with their own terminals and amount
profiles; frauds by large amount, by compromised terminal and by compromised customer), small
enough to train on in a second. The real measurements use ``simulator.generate``.
"""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd

DAY_S = 86_400


def _label(
    df: pd.DataFrame, rng: np.random.Generator, n_terminals: int, n_customers: int, n_days: int
) -> None:
    day = df["TX_TIME_DAYS"].to_numpy()
    fraud = (df["TX_AMOUNT"].to_numpy() > 220).astype(np.int64)
    scenario = fraud.copy()
    for d in range(0, n_days, 2):  # a terminal compromised every other day, for 10 days
        hit = (
            (df["TERMINAL_ID"].to_numpy() == rng.integers(n_terminals))
            & (day >= d)
            & (day < d + 10)
        )
        fraud[hit], scenario[hit] = 1, 2
    amount = df["TX_AMOUNT"].to_numpy().copy()
    for d in range(n_days):  # a customer compromised each day: a third of 7 days' payments x5
        rows = np.flatnonzero(
            (df["CUSTOMER_ID"].to_numpy() == rng.integers(n_customers)) & (day >= d) & (day < d + 7)
        )
        pick = rows[rng.random(len(rows)) < 1 / 3]
        amount[pick] *= 5
        fraud[pick], scenario[pick] = 1, 3
    df["TX_AMOUNT"], df["TX_FRAUD"], df["TX_FRAUD_SCENARIO"] = amount.round(2), fraud, scenario


def synthetic_transactions(
    n_customers: int = 200,
    n_terminals: int = 400,
    n_days: int = 60,
    *,
    start: date = date(2018, 4, 1),
    seed: int = 0,
) -> pd.DataFrame:
    """About ``2 * n_customers * n_days`` rows, time-ordered, ~2-4% fraud."""
    rng = np.random.default_rng(seed)
    mean_amount = rng.uniform(5, 100, n_customers)
    own = rng.integers(0, n_terminals, size=(n_customers, 20))  # each customer's terminals
    counts = rng.poisson(rng.uniform(0, 4, n_customers), size=(n_days, n_customers)).ravel()
    day = np.repeat(np.repeat(np.arange(n_days), n_customers), counts)
    cust = np.repeat(np.tile(np.arange(n_customers), n_days), counts)
    secs = day * DAY_S + np.clip(rng.normal(43_200, 20_000, len(day)), 0, DAY_S - 1).astype(int)
    amount = np.abs(rng.normal(mean_amount[cust], mean_amount[cust] / 2)).round(2)
    df = (
        pd.DataFrame(
            {
                "TX_DATETIME": np.datetime64(datetime.combine(start, datetime.min.time()), "s")
                + secs.astype("timedelta64[s]"),
                "CUSTOMER_ID": cust,
                "TERMINAL_ID": own[cust, rng.integers(0, 20, len(cust))],
                "TX_AMOUNT": amount,
                "TX_TIME_SECONDS": secs,
                "TX_TIME_DAYS": day,
            }
        )
        .sort_values("TX_TIME_SECONDS", kind="stable")
        .reset_index(drop=True)
    )
    df.insert(0, "TRANSACTION_ID", np.arange(len(df), dtype=np.int64))
    _label(df, rng, n_terminals, n_customers, n_days)
    return df
