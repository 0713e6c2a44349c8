"""Extensions beyond the published benchmark, each behind a switch of ``SimulationConfig``.

Users of the benchmark complain that nothing drifts and that one amount threshold finds most
frauds. These extensions answer that without touching the faithful dataset: each draws from its
own random stream, so the benchmark rows are the same rows with or without them.

- attributes: MERCHANT_CATEGORY (4-digit MCC) and COUNTRY (ISO alpha-2) per terminal, CHANNEL
  (card_present | ecommerce) per payment; stolen-card frauds (scenarios 3, 4 and the night
  takeovers of scenario 5) are e-commerce, as card-not-present fraud is in practice.
  ``drift_ecommerce_share`` changes the mix from ``drift_day`` on.
- card testing (scenario 4, a concept drift): from ``card_testing_day`` on, each day a few
  victims' cards are tested in a burst of small payments, minutes apart, at terminals far from
  the victim (never ones they use). Burst payments are all fraud.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from simulator.config import DAY_S, SimulationConfig

CARD_TESTING_SCENARIO = 4
TAKEOVER_SCENARIO = 5  # simulator.takeover
BURST_MIN, BURST_MAX = 5, 15  # payments per tested card
BURST_GAP_S = 60.0  # mean seconds between two tests
TEST_AMOUNT_MIN, TEST_AMOUNT_MAX = 0.5, 5.0
HOME_COUNTRY = "BE"
_MCC = {  # ISO 18245 code: share of terminals
    "5411": 0.25,  # grocery stores
    "5812": 0.12,  # restaurants
    "5814": 0.10,  # fast food
    "5541": 0.10,  # service stations
    "5999": 0.10,  # miscellaneous retail
    "5912": 0.06,  # pharmacies
    "5311": 0.06,  # department stores
    "5691": 0.06,  # clothing
    "4111": 0.06,  # commuter transport
    "5732": 0.05,  # electronics
    "7011": 0.04,  # hotels
}
_COUNTRY = {HOME_COUNTRY: 0.90, "FR": 0.03, "NL": 0.03, "DE": 0.02, "LU": 0.01, "GB": 0.005}
_COUNTRY["ES"] = 1.0 - sum(_COUNTRY.values())

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


def daily_counts(expected: float, n_days: int, rng: np.random.Generator) -> Ints:
    """Per-day event counts: floor(expected), plus one with probability its fraction.

    Fractional rates let small datasets keep the benchmark's fraud density; at the published
    integer rates the count is exactly that integer every day.
    """
    whole = int(np.floor(expected))
    return (whole + (rng.random(n_days) < expected - whole)).astype(np.int64)


def _weighted(table: dict[str, float], n: int, rng: np.random.Generator) -> npt.NDArray[np.str_]:
    keys, weights = list(table), np.array(list(table.values()))
    return np.asarray(keys)[rng.choice(len(keys), size=n, p=weights / weights.sum())]


def add_attributes(cfg: SimulationConfig, tx: pd.DataFrame, rng: np.random.Generator) -> None:
    """MERCHANT_CATEGORY, COUNTRY (terminal's) and CHANNEL columns, in place.

    One uniform per row in row order: rows appended later (card testing) never shift the draws
    of the benchmark rows before them.
    """
    mcc = _weighted(_MCC, cfg.n_terminals, rng)
    country = _weighted(_COUNTRY, cfg.n_terminals, rng)
    share = np.full(len(tx), cfg.ecommerce_share)
    if cfg.drift_day is not None and cfg.drift_ecommerce_share is not None:
        share[tx["TX_TIME_DAYS"].to_numpy() >= cfg.drift_day] = cfg.drift_ecommerce_share
    stolen = tx["TX_FRAUD_SCENARIO"].isin([3, CARD_TESTING_SCENARIO, TAKEOVER_SCENARIO]).to_numpy()
    online = (rng.random(len(tx)) < share) | stolen
    terminal = tx["TERMINAL_ID"].to_numpy()
    tx["MERCHANT_CATEGORY"] = mcc[terminal].astype(object)
    tx["CHANNEL"] = np.where(online, "ecommerce", "card_present").astype(object)
    tx["COUNTRY"] = country[terminal].astype(object)


def far_terminals(
    customer_xy: Floats, terminal_xy: Floats, radius: float, rng: np.random.Generator
) -> Ints:
    """A random terminal per row outside the customer's radius (by rejection, bounded tries).

    On a population so small that every terminal is near, the last draw is kept as is.
    """
    n_terminals = len(terminal_xy)
    term = rng.integers(0, n_terminals, size=len(customer_xy))
    for _ in range(50):
        near = ((terminal_xy[term] - customer_xy) ** 2).sum(axis=1) < radius * radius
        if not near.any():
            break
        term[near] = rng.integers(0, n_terminals, size=int(near.sum()))
    return term.astype(np.int64)


def burst_offsets(lengths: Ints, rng: np.random.Generator, gap_s: float = BURST_GAP_S) -> Floats:
    """Seconds since its burst's first payment, for each payment of consecutive bursts."""
    gaps = rng.exponential(gap_s, size=int(lengths.sum()))
    if len(lengths) == 0:
        return gaps
    firsts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    gaps[firsts] = 0.0
    total = np.cumsum(gaps)
    offsets: Floats = total - np.repeat(total[firsts], lengths)
    return offsets


def card_testing_rows(
    cfg: SimulationConfig, customer_xy: Floats, terminal_xy: Floats, rng: np.random.Generator
) -> pd.DataFrame:
    """Scenario 4 payments (fraud, unsorted) from ``card_testing_day`` to the last day."""
    first = cfg.card_testing_day if cfg.card_testing_day is not None else cfg.n_days
    days = np.arange(min(first, cfg.n_days), cfg.n_days)
    victim_day = np.repeat(days, daily_counts(cfg.card_victims_per_day(), len(days), rng))
    victims = rng.integers(0, cfg.n_customers, size=len(victim_day))
    lengths = rng.integers(BURST_MIN, BURST_MAX + 1, size=len(victims)).astype(np.int64)
    start = rng.uniform(0, DAY_S - 3_600, size=len(victims))
    cust, day = np.repeat(victims, lengths), np.repeat(victim_day, lengths)
    second = np.minimum(np.repeat(start, lengths) + burst_offsets(lengths, rng), DAY_S - 1)
    amount = np.round(rng.uniform(TEST_AMOUNT_MIN, TEST_AMOUNT_MAX, size=len(cust)), 2)
    term = far_terminals(customer_xy[cust], terminal_xy, cfg.radius, rng)
    return pd.DataFrame(
        {
            "CUSTOMER_ID": cust.astype(np.int64),
            "TERMINAL_ID": term,
            "TX_AMOUNT": amount,
            "TX_TIME_SECONDS": day * DAY_S + second.astype(np.int64),
            "TX_TIME_DAYS": day.astype(np.int64),
            "TX_FRAUD": np.ones(len(cust), dtype=np.int64),
            "TX_FRAUD_SCENARIO": np.full(len(cust), CARD_TESTING_SCENARIO, dtype=np.int64),
        }
    )
