"""The benchmark's labelled transactions, reimplemented from its published generative process.

The process (see docs/benchmark-data.md): customers and terminals at uniform locations on a
100 x 100 square; each customer pays only at terminals within ``radius``; per customer and day a
Poisson number of payments at a Normal time of day, with Normal amounts; then three fraud
scenarios label the data. Everything is vectorised with numpy, so the full 1.75M-row dataset takes
seconds, and every draw comes from one seed.

Each stage draws from its own child of ``SeedSequence(seed)``. That is why an extension switched on
(its own stream) leaves the base draws alone: the benchmark rows stay the same rows.

Steps of :func:`generate`:

1. profiles of customers and terminals, and each customer's reachable terminals;
2. the payments (customer, terminal, second, amount), the optional amount drift;
3. sort by time (generation order breaks ties), then label scenarios 1, 2, 3 in that order; a
   later scenario's label wins when two apply (e.g. a > 220 payment at a compromised terminal is
   scenario 2), as each scenario is applied over the previous labels;
4. extensions (card testing, night takeovers from the concept-drift day, attributes), then the
   published columns and ``TRANSACTION_ID``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
import pandas as pd

from simulator.config import DAY_S, SimulationConfig
from simulator.extensions import add_attributes, card_testing_rows
from simulator.scenarios import label_frauds
from simulator.takeover import takeover_rows

SIDE = 100.0
TIME_MEAN_S, TIME_SD_S = 43_200.0, 20_000.0
COLUMNS = (
    "TRANSACTION_ID",
    "TX_DATETIME",
    "CUSTOMER_ID",
    "TERMINAL_ID",
    "TX_AMOUNT",
    "TX_TIME_SECONDS",
    "TX_TIME_DAYS",
    "TX_FRAUD",
    "TX_FRAUD_SCENARIO",
)
_CHUNK = 512  # customers per distance block: 512 x 10,000 float64 = 40 MB

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Population:
    """Customer and terminal profiles, and each customer's terminals as CSR (offsets, flat ids)."""

    customer_xy: Floats
    terminal_xy: Floats
    mean_amount: Floats
    sd_amount: Floats
    tx_per_day: Floats
    offsets: Ints
    terminals: Ints


def _streams(seed: int) -> dict[str, np.random.Generator]:
    """One independent generator per stage, all from the one seed."""
    # New stages go at the end: child i depends only on (seed, i), so earlier streams stay put.
    names = (
        "population",
        "payments",
        "terminal_fraud",
        "customer_fraud",
        "attrs",
        "card",
        "takeover",
    )
    children = np.random.SeedSequence(seed).spawn(len(names))
    return {n: np.random.default_rng(s) for n, s in zip(names, children, strict=True)}


def neighbours(customer_xy: Floats, terminal_xy: Floats, radius: float) -> tuple[Ints, Ints]:
    """Terminals strictly within ``radius`` of each customer, as CSR (offsets, terminal ids).

    Distances are computed in blocks of customers: vectorised, with bounded memory.
    """
    rows, cols = [], []
    for lo in range(0, len(customer_xy), _CHUNK):
        block = customer_xy[lo : lo + _CHUNK]
        d2 = ((block[:, None, :] - terminal_xy[None, :, :]) ** 2).sum(axis=2)
        r, c = np.nonzero(d2 < radius * radius)
        rows.append(r + lo)
        cols.append(c)
    row, col = np.concatenate(rows), np.concatenate(cols)
    counts = np.bincount(row, minlength=len(customer_xy))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return offsets, col.astype(np.int64)


def make_population(cfg: SimulationConfig, rng: np.random.Generator) -> Population:
    """Locations and spending profiles, as published (mean ~ U(5, 100), sd = mean / 2, ...)."""
    customer_xy = rng.uniform(0, SIDE, size=(cfg.n_customers, 2))
    mean_amount = rng.uniform(5, 100, size=cfg.n_customers)
    tx_per_day = rng.uniform(0, 4, size=cfg.n_customers)
    terminal_xy = rng.uniform(0, SIDE, size=(cfg.n_terminals, 2))
    offsets, terminals = neighbours(customer_xy, terminal_xy, cfg.radius)
    return Population(
        customer_xy, terminal_xy, mean_amount, mean_amount / 2, tx_per_day, offsets, terminals
    )


def make_payments(cfg: SimulationConfig, pop: Population, rng: np.random.Generator) -> pd.DataFrame:
    """Unlabelled payments in generation order (customer, then day), published distributions."""
    counts = rng.poisson(np.repeat(pop.tx_per_day, cfg.n_days)).astype(np.int64)
    n = int(counts.sum())
    cust = np.repeat(np.repeat(np.arange(cfg.n_customers), cfg.n_days), counts)
    day = np.repeat(np.tile(np.arange(cfg.n_days), cfg.n_customers), counts)
    tod = rng.normal(TIME_MEAN_S, TIME_SD_S, size=n)
    mean = pop.mean_amount[cust]
    amount = rng.normal(mean, pop.sd_amount[cust])
    negative = amount < 0
    amount[negative] = rng.uniform(0, 2 * mean[negative])
    n_terms = np.diff(pop.offsets)[cust]
    pick = (rng.random(n) * np.maximum(n_terms, 1)).astype(np.int64)
    keep = (tod > 0) & (tod < DAY_S) & (n_terms > 0)
    term = pop.terminals[np.minimum(pop.offsets[cust] + pick, len(pop.terminals) - 1)]
    seconds = day * DAY_S + tod.astype(np.int64)
    frame = pd.DataFrame(
        {
            "CUSTOMER_ID": cust,
            "TERMINAL_ID": term,
            "TX_AMOUNT": np.round(amount, 2),
            "TX_TIME_SECONDS": seconds,
            "TX_TIME_DAYS": day,
        }
    )
    return frame[keep].reset_index(drop=True)


def apply_amount_drift(cfg: SimulationConfig, tx: pd.DataFrame) -> None:
    """From ``drift_day`` on, amounts x factor (before labelling, so scenario 1 still holds)."""
    if cfg.drift_day is None or cfg.drift_amount_factor == 1.0:
        return
    late = tx["TX_TIME_DAYS"].to_numpy() >= cfg.drift_day
    tx.loc[late, "TX_AMOUNT"] = np.round(tx.loc[late, "TX_AMOUNT"] * cfg.drift_amount_factor, 2)


def finalise(cfg: SimulationConfig, tx: pd.DataFrame) -> pd.DataFrame:
    """Stable sort by time, number the rows, add TX_DATETIME; published columns first."""
    tx = tx.sort_values("TX_TIME_SECONDS", kind="stable").reset_index(drop=True)
    start = np.datetime64(datetime.combine(cfg.start_date, datetime.min.time()), "ns")
    tx["TX_DATETIME"] = start + tx["TX_TIME_SECONDS"].to_numpy().astype("timedelta64[s]")
    tx["TRANSACTION_ID"] = np.arange(len(tx), dtype=np.int64)
    extra = [c for c in tx.columns if c not in COLUMNS]
    return tx[[*COLUMNS, *extra]]


def generate(cfg: SimulationConfig | None = None) -> pd.DataFrame:
    """The labelled transactions of ``cfg`` (default: the published benchmark), deterministic."""
    cfg = cfg or SimulationConfig()
    streams = _streams(cfg.seed)
    pop = make_population(cfg, streams["population"])
    tx = make_payments(cfg, pop, streams["payments"])
    apply_amount_drift(cfg, tx)
    tx = tx.sort_values("TX_TIME_SECONDS", kind="stable").reset_index(drop=True)
    label_frauds(cfg, tx, streams)
    if cfg.card_testing_day is not None:
        card = card_testing_rows(cfg, pop.customer_xy, pop.terminal_xy, streams["card"])
        tx = pd.concat([tx, card], ignore_index=True)  # base rows first: their draws stay put
    if cfg.concept_drift_day is not None:
        pop_args = (pop.mean_amount, pop.sd_amount, pop.offsets, pop.terminals)
        takeover = takeover_rows(cfg, *pop_args, streams["takeover"])
        tx = pd.concat([tx, takeover], ignore_index=True)
    if cfg.attributes:
        add_attributes(cfg, tx, streams["attrs"])
    out = finalise(cfg, tx)
    out.attrs["simulation"] = cfg.metadata()
    return out
