"""Concept drift: night account takeovers (fraud scenario 5), from ``concept_drift_day`` on.

Fraudsters who learned that big amounts (scenario 1), tainted terminals (2) and spending sprees
five times the usual (3) get caught change method: each day a few victims' cards are taken over
and spent in one burst at night, at the victim's *usual* amounts and the victim's *usual*
terminals. A model trained before the drift day has no reason to flag such payments: the amount
ratio is about 1 and the terminal has no fraud history.

The 18 served features still carry the pattern, so a model retrained on labelled traffic after
the drift day can learn it: ``is_night`` is 1, and ``customer_tx_count_1d`` jumps above what the
customer's ``customer_tx_count_7d`` / ``_30d`` make usual (4 to 10 payments minutes apart, for
customers who average 0 to 4 a day). The first payment of a burst looks like any night payment;
the later ones are the learnable part.

The rows are drawn from their own random stream and appended after the benchmark rows (like card
testing), so every existing row, label and draw is unchanged when the switch is on.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from simulator.config import DAY_S, SimulationConfig
from simulator.extensions import TAKEOVER_SCENARIO, burst_offsets, daily_counts

BURST_MIN, BURST_MAX = 4, 10  # payments per taken-over card
BURST_GAP_S = 600.0  # mean seconds between two payments of a burst
NIGHT_END_S = 7 * 3_600 - 1  # the last second the features count as night (hour <= 6)
LATEST_START_S = 5 * 3_600  # bursts start between midnight and 05:00

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


def usual_amounts(mean: Floats, sd: Floats, rng: np.random.Generator) -> Floats:
    """The victim's own amount profile, as the benchmark draws it (negative: U(0, 2 x mean))."""
    amount = rng.normal(mean, sd)
    negative = amount < 0
    amount[negative] = rng.uniform(0, 2 * mean[negative])
    return np.round(amount, 2)


def usual_terminals(offsets: Ints, terminals: Ints, cust: Ints, rng: np.random.Generator) -> Ints:
    """A terminal drawn uniformly among each row's customer's own (customers have at least one)."""
    n_terms = np.diff(offsets)[cust]
    pick = (rng.random(len(cust)) * n_terms).astype(np.int64)
    picked: Ints = terminals[offsets[cust] + pick]
    return picked


def takeover_rows(
    cfg: SimulationConfig,
    mean_amount: Floats,
    sd_amount: Floats,
    offsets: Ints,
    terminals: Ints,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Scenario 5 payments (fraud, unsorted) from ``concept_drift_day`` to the last day.

    Victims are drawn among the customers with at least one terminal (the others never pay).
    """
    first = cfg.concept_drift_day if cfg.concept_drift_day is not None else cfg.n_days
    days = np.arange(min(first, cfg.n_days), cfg.n_days)
    victim_day = np.repeat(days, daily_counts(cfg.takeover_victims_per_day(), len(days), rng))
    payers = np.flatnonzero(np.diff(offsets) > 0)
    if len(payers) == 0:
        victim_day = victim_day[:0]
    victims = payers[rng.integers(0, max(len(payers), 1), size=len(victim_day))]
    lengths = rng.integers(BURST_MIN, BURST_MAX + 1, size=len(victims)).astype(np.int64)
    start = rng.uniform(0, LATEST_START_S, size=len(victims))
    cust, day = np.repeat(victims, lengths), np.repeat(victim_day, lengths)
    offset = burst_offsets(lengths, rng, BURST_GAP_S)
    second = np.minimum(np.repeat(start, lengths) + offset, NIGHT_END_S).astype(np.int64)
    amount = usual_amounts(mean_amount[cust], sd_amount[cust], rng)
    term = usual_terminals(offsets, terminals, cust, rng)
    return pd.DataFrame(
        {
            "CUSTOMER_ID": cust.astype(np.int64),
            "TERMINAL_ID": term.astype(np.int64),
            "TX_AMOUNT": amount,
            "TX_TIME_SECONDS": day.astype(np.int64) * DAY_S + second,
            "TX_TIME_DAYS": day.astype(np.int64),
            "TX_FRAUD": np.ones(len(cust), dtype=np.int64),
            "TX_FRAUD_SCENARIO": np.full(len(cust), TAKEOVER_SCENARIO, dtype=np.int64),
        }
    )
