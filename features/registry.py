"""The feature registry: one list of features used by training AND serving.

The online store (Redis) and the offline computation (pandas) both produce the same *raw window
aggregates* per event (``RAW_COLUMNS``); ``derive`` turns them into the model's feature matrix.
Because that last step is one function used by both paths, what is served is what was trained.

Window semantics (event time, never wall clock):
- customer windows over w days: events of the customer in ``(t - w, t]``, the current one included;
- terminal windows with label delay D: events of the terminal in ``(t - D - w, t - D]`` and, among
  them, those labelled fraud. Risk = frauds / events, 0 when there are none.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

WINDOWS_DAYS: tuple[int, ...] = (1, 7, 30)
LABEL_DELAY_DAYS = 7
DAY_MS = 86_400_000
# how far back an event's features reach: the customer's 30 days; the terminal's 30 days, read
# the label delay (7 days) back
REACH_MS = (max(WINDOWS_DAYS) + LABEL_DELAY_DAYS) * DAY_MS

Entity = Literal["transaction", "customer", "terminal"]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class FeatureDef:
    """One model input: what it is, its fallback value and how an analyst reads it."""

    name: str
    entity: Entity
    window_days: int | None
    default: float
    description: str
    reason: str  # str.format template over the event's feature values (by name)


def _raw_columns() -> tuple[str, ...]:
    cols: list[str] = []
    for w in WINDOWS_DAYS:
        cols += [f"customer_count_{w}d", f"customer_sum_{w}d"]
    for w in WINDOWS_DAYS:
        cols += [f"terminal_count_{w}d", f"terminal_frauds_{w}d"]
    return tuple(cols)


RAW_COLUMNS: tuple[str, ...] = _raw_columns()
RAW_INDEX = {name: i for i, name in enumerate(RAW_COLUMNS)}


def _window_features() -> list[FeatureDef]:
    feats: list[FeatureDef] = []
    for w in WINDOWS_DAYS:
        feats.append(
            FeatureDef(
                f"customer_tx_count_{w}d",
                "customer",
                w,
                1.0,
                f"Transactions of the customer in the last {w} day(s), this one included",
                f"{{customer_tx_count_{w}d:.0f}} transactions by this customer in {w} day(s)",
            )
        )
        feats.append(
            FeatureDef(
                f"customer_avg_amount_{w}d",
                "customer",
                w,
                0.0,
                f"Average amount of the customer's transactions in the last {w} day(s)",
                f"customer's {w}-day average amount is {{customer_avg_amount_{w}d:.2f}}",
            )
        )
    for w in WINDOWS_DAYS:
        feats.append(
            FeatureDef(
                f"terminal_tx_count_{w}d",
                "terminal",
                w,
                0.0,
                f"Transactions at the terminal in the {w} day(s) before the {LABEL_DELAY_DAYS}-day "
                "label delay",
                f"{{terminal_tx_count_{w}d:.0f}} transactions at this terminal in a {w}-day window "
                "with known labels",
            )
        )
        feats.append(
            FeatureDef(
                f"terminal_risk_{w}d",
                "terminal",
                w,
                0.0,
                "Share of the terminal's transactions labelled fraud, same window",
                f"{{terminal_risk_{w}d:.0%}} of this terminal's labelled transactions in a {w}-day "
                "window were fraud",
            )
        )
    for w in WINDOWS_DAYS:
        feats.append(
            FeatureDef(
                f"amount_to_customer_avg_{w}d",
                "customer",
                w,
                1.0,
                f"Amount divided by the customer's {w}-day average amount",
                f"amount {{amount:.2f}} is {{amount_to_customer_avg_{w}d:.1f}}x the customer's "
                f"{w}-day average of {{customer_avg_amount_{w}d:.2f}}",
            )
        )
    return feats


FEATURES: tuple[FeatureDef, ...] = (
    FeatureDef("amount", "transaction", None, 0.0, "Transaction amount", "amount is {amount:.2f}"),
    FeatureDef(
        "is_weekend",
        "transaction",
        None,
        0.0,
        "1 on Saturday or Sunday (event's offset)",
        "made on a weekend",
    ),
    FeatureDef(
        "is_night",
        "transaction",
        None,
        0.0,
        "1 between 00:00 and 06:59 (event's offset)",
        "made at night",
    ),
    *_window_features(),
)
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
FEATURES_BY_NAME = {f.name: f for f in FEATURES}


def registry_hash() -> str:
    """Fingerprint of the feature list; a model bundle must carry the same one to be served."""
    text = (
        "|".join(f"{f.name}:{f.entity}:{f.window_days}:{f.default}" for f in FEATURES)
        + f"|delay={LABEL_DELAY_DAYS}"
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def time_parts(local_ms: npt.NDArray[np.int64]) -> tuple[FloatArray, FloatArray]:
    """(is_weekend, is_night) from local wall-clock milliseconds since the epoch."""
    days = np.floor_divide(local_ms, DAY_MS)
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday (Monday = 0)
    hour = np.floor_divide(local_ms - days * DAY_MS, 3_600_000)
    return (weekday >= 5).astype(np.float64), (hour <= 6).astype(np.float64)


def derive(raw: FloatArray, amount: FloatArray, local_ms: npt.NDArray[np.int64]) -> FloatArray:
    """The model's feature matrix (rows = events, columns = FEATURE_NAMES) from raw aggregates."""
    n = raw.shape[0]
    out = np.empty((n, len(FEATURES)), dtype=np.float64)
    weekend, night = time_parts(local_ms)
    cols: dict[str, FloatArray] = {"amount": amount, "is_weekend": weekend, "is_night": night}
    for w in WINDOWS_DAYS:
        count = raw[:, RAW_INDEX[f"customer_count_{w}d"]]
        total = raw[:, RAW_INDEX[f"customer_sum_{w}d"]]
        avg = np.divide(total, count, out=np.zeros(n), where=count > 0)
        cols[f"customer_tx_count_{w}d"] = count
        cols[f"customer_avg_amount_{w}d"] = avg
        cols[f"amount_to_customer_avg_{w}d"] = np.divide(amount, avg, out=np.ones(n), where=avg > 0)
        tcount = raw[:, RAW_INDEX[f"terminal_count_{w}d"]]
        frauds = raw[:, RAW_INDEX[f"terminal_frauds_{w}d"]]
        cols[f"terminal_tx_count_{w}d"] = tcount
        cols[f"terminal_risk_{w}d"] = np.divide(frauds, tcount, out=np.zeros(n), where=tcount > 0)
    for j, name in enumerate(FEATURE_NAMES):
        out[:, j] = cols[name]
    return out


def defaults_row() -> FloatArray:
    """Feature values used when the online store is unavailable (degrade policy)."""
    return np.array([f.default for f in FEATURES], dtype=np.float64)
