"""Offline feature computation for training sets, with the online store's exact semantics.

Input: a transactions frame with the published benchmark columns (TRANSACTION_ID, TX_DATETIME,
CUSTOMER_ID, TERMINAL_ID, TX_AMOUNT, TX_FRAUD). Output: the raw window aggregates of
``registry.RAW_COLUMNS`` per row, then ``registry.derive`` gives the model's features, the same
function the worker calls on what Redis returns.

The windows are computed with sorted composite keys ``(entity, time)`` and ``searchsorted``, so the
whole thing is vectorised; amounts are summed in integer cents, as the Lua script does, so the two
paths agree to the cent rather than to a float tolerance.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.registry import (
    DAY_MS,
    FEATURE_NAMES,
    LABEL_DELAY_DAYS,
    RAW_COLUMNS,
    WINDOWS_DAYS,
    derive,
)

REQUIRED_COLUMNS = ("TRANSACTION_ID", "TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT")
_SHIFT = np.int64(1) << np.int64(42)  # ~139 years of milliseconds per entity slot

IntArray = npt.NDArray[np.int64]


def event_ms(times: pd.Series) -> IntArray:
    """Milliseconds since the epoch (UTC) of a datetime column (naive = UTC)."""
    ts = pd.to_datetime(times)
    if ts.dt.tz is not None:
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    return ts.to_numpy(dtype="datetime64[ms]").astype(np.int64)


def local_ms(times: pd.Series) -> IntArray:
    """Wall-clock milliseconds at each timestamp's own offset (weekend/night are local notions)."""
    ts = pd.to_datetime(times)
    if ts.dt.tz is not None:
        ts = ts.dt.tz_localize(None)  # keeps the wall-clock time, drops the offset
    return ts.to_numpy(dtype="datetime64[ms]").astype(np.int64)


def amount_cents(amounts: pd.Series | npt.NDArray[np.float64]) -> IntArray:
    return np.rint(np.asarray(amounts, dtype=np.float64) * 100.0).astype(np.int64)


def _composite(codes: IntArray, ms: IntArray, base: int) -> IntArray:
    return codes * _SHIFT + (ms - base)


def _customer_raw(codes: IntArray, ms: IntArray, cents: IntArray, base: int) -> dict[str, IntArray]:
    """Count and cent sum of the customer's events in (t - w, t], events up to this one."""
    order = np.lexsort((np.arange(len(ms)), ms, codes))  # stable: file order breaks time ties
    keys = _composite(codes[order], ms[order], base)
    csum = np.concatenate([[0], np.cumsum(cents[order])])
    pos = np.arange(1, len(keys) + 1)  # events ingested so far, this one included
    out: dict[str, IntArray] = {}
    for w in WINDOWS_DAYS:
        lo = np.searchsorted(keys, keys - w * DAY_MS, side="right")
        count, total = np.empty_like(pos), np.empty_like(pos)
        count[order], total[order] = pos - lo, csum[pos] - csum[lo]
        out[f"customer_count_{w}d"], out[f"customer_sum_{w}d"] = count, total
    return out


def _terminal_raw(codes: IntArray, ms: IntArray, fraud: IntArray, base: int) -> dict[str, IntArray]:
    """Events and frauds at the terminal in (t - D - w, t - D]."""
    order = np.lexsort((ms, codes))
    keys = _composite(codes[order], ms[order], base)
    fsum = np.concatenate([[0], np.cumsum(fraud[order])])
    query = _composite(codes, ms, base)
    hi = np.searchsorted(keys, query - LABEL_DELAY_DAYS * DAY_MS, side="right")
    out: dict[str, IntArray] = {}
    for w in WINDOWS_DAYS:
        lo = np.searchsorted(keys, query - (LABEL_DELAY_DAYS + w) * DAY_MS, side="right")
        out[f"terminal_count_{w}d"] = hi - lo
        out[f"terminal_frauds_{w}d"] = fsum[hi] - fsum[lo]
    return out


def raw_aggregates(df: pd.DataFrame) -> npt.NDArray[np.float64]:
    """Raw aggregates (rows aligned with ``df``, columns = RAW_COLUMNS), sums in currency units."""
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"dataset lacks column(s) {missing}; expected {list(REQUIRED_COLUMNS)}")
    ms = event_ms(df["TX_DATETIME"])
    base = int(ms.min()) - (LABEL_DELAY_DAYS + max(WINDOWS_DAYS) + 1) * DAY_MS if len(ms) else 0
    cust = pd.factorize(df["CUSTOMER_ID"].astype(str))[0].astype(np.int64)
    term = pd.factorize(df["TERMINAL_ID"].astype(str))[0].astype(np.int64)
    fraud = (
        df["TX_FRAUD"].to_numpy(dtype=np.int64)
        if "TX_FRAUD" in df.columns
        else np.zeros(len(df), np.int64)
    )
    parts = _customer_raw(cust, ms, amount_cents(df["TX_AMOUNT"]), base)
    parts |= _terminal_raw(term, ms, fraud, base)
    raw = np.column_stack([parts[c] for c in RAW_COLUMNS]).astype(np.float64)
    for w in WINDOWS_DAYS:
        raw[:, RAW_COLUMNS.index(f"customer_sum_{w}d")] /= 100.0
    return raw


def compute_features(df: pd.DataFrame) -> pd.DataFrame:
    """The model's feature frame for a transactions frame (index aligned with ``df``)."""
    raw = raw_aggregates(df)
    x = derive(raw, df["TX_AMOUNT"].to_numpy(dtype=np.float64), local_ms(df["TX_DATETIME"]))
    return pd.DataFrame(x, columns=list(FEATURE_NAMES), index=df.index)
