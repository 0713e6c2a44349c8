"""Reading a transactions dataset for training: parquet or CSV with the published columns.

Users may bring the published benchmark (converted to parquet/CSV), our simulator's output, or
their own data; only the columns training needs are required. A directory is read as the
concatenation of its parquet/CSV files in name order (the benchmark ships one file per day).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa

from models.errors import DataError

REQUIRED_COLUMNS = (
    "TRANSACTION_ID",
    "TX_DATETIME",
    "CUSTOMER_ID",
    "TERMINAL_ID",
    "TX_AMOUNT",
    "TX_FRAUD",
)
SUFFIXES = (".parquet", ".csv")


def _read_one(path: Path) -> pd.DataFrame:
    try:
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES)
        if not files:
            raise DataError(f"{path}: no .parquet or .csv files in this directory")
        return files
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.suffix.lower() not in SUFFIXES:
        raise DataError(f"{path}: unsupported file type {path.suffix!r}; use .parquet or .csv")
    return [path]


def check_columns(df: pd.DataFrame, origin: str = "dataset") -> None:
    """Raise DataError naming the missing columns."""
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(
            f"{origin}: missing column(s) {', '.join(missing)} "
            f"(needs {', '.join(REQUIRED_COLUMNS)})"
        )


def normalise(df: pd.DataFrame, origin: str = "dataset") -> pd.DataFrame:
    """Naive-UTC datetimes, float amounts, 0/1 labels, rows in time order (stable)."""
    check_columns(df, origin)
    try:
        out = df.copy()
        when = pd.to_datetime(out["TX_DATETIME"])
        if when.dt.tz is not None:
            when = when.dt.tz_convert("UTC").dt.tz_localize(None)
        out["TX_DATETIME"] = when
        out["TX_AMOUNT"] = out["TX_AMOUNT"].astype("float64")
        out["TX_FRAUD"] = out["TX_FRAUD"].astype("int64").clip(0, 1)
    except (ValueError, TypeError) as exc:
        raise DataError(f"{origin}: bad values in a required column: {exc}") from exc
    if out["TX_DATETIME"].isna().any():
        raise DataError(f"{origin}: TX_DATETIME has missing values")
    return out.sort_values("TX_DATETIME", kind="stable").reset_index(drop=True)


def load_transactions(path: Path) -> pd.DataFrame:
    """The dataset at ``path`` (file or directory), checked and normalised."""
    frames = [_read_one(p) for p in _files(path)]
    df = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    return normalise(df, str(path))
