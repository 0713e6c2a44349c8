"""Datasets on disk (parquet or CSV, published column names) and the frames derived from them.

The generating config travels with the data (parquet schema metadata, or a ``.json`` file next to
a CSV), so a later ``produce`` can derive the same event-id prefix from the file alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import ValidationError

from simulator.config import SimulationConfig
from simulator.errors import DatasetError
from simulator.generate import COLUMNS

META_KEY = b"fraudscore.simulation"
ATTRS_KEY = "simulation"
SUFFIXES = (".parquet", ".csv")
_INT_COLUMNS = ("TRANSACTION_ID", "CUSTOMER_ID", "TERMINAL_ID", "TX_TIME_SECONDS", "TX_TIME_DAYS")
_TEXT_COLUMNS = ("MERCHANT_CATEGORY", "CHANNEL", "COUNTRY")  # "0742" must stay text in a CSV


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DatasetError(f"{path}: unsupported file type {suffix!r}; use .parquet or .csv")
    return suffix


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def write_dataset(df: pd.DataFrame, path: Path) -> Path:
    """Write ``df`` as parquet or CSV (by suffix), with its config if it has one."""
    suffix = _suffix(path)
    meta = df.attrs.get(ATTRS_KEY)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".parquet":
            table = pa.Table.from_pandas(df, preserve_index=False)
            if meta is not None:
                extra = {META_KEY: json.dumps(meta).encode()}
                table = table.replace_schema_metadata({**(table.schema.metadata or {}), **extra})
            pq.write_table(table, path)
        else:
            df.to_csv(path, index=False, date_format="%Y-%m-%d %H:%M:%S")
            if meta is not None:
                _sidecar(path).write_text(json.dumps(meta, indent=2) + "\n")
    except OSError as exc:
        raise DatasetError(f"cannot write {path}: {exc}") from exc
    return path


def _read_meta(path: Path, suffix: str) -> dict[str, object] | None:
    """The stored config as JSON data, or None when the file was not written by us."""
    if suffix == ".parquet":
        raw = (pq.read_schema(path).metadata or {}).get(META_KEY)
    else:
        side = _sidecar(path)
        raw = side.read_bytes() if side.exists() else None
    return None if raw is None else dict(json.loads(raw))


def read_dataset(path: Path) -> pd.DataFrame:
    """Read a dataset and check it has the published columns, with their dtypes restored."""
    suffix = _suffix(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file (generate one with `fraudscore simulate`)")
    try:
        if suffix == ".parquet":
            df = pd.read_parquet(path)
        else:
            df = pd.read_csv(path, dtype={c: str for c in _TEXT_COLUMNS})
        meta = _read_meta(path, suffix)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc
    df = normalise(df, str(path))
    if meta is not None:
        df.attrs[ATTRS_KEY] = meta
    return df


def normalise(df: pd.DataFrame, origin: str = "dataset") -> pd.DataFrame:
    """Published dtypes (int64 ids, naive UTC datetime64[ns]); raise on missing columns."""
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise DatasetError(f"{origin}: missing column(s) {', '.join(missing)}")
    try:
        out = df.astype({c: "int64" for c in (*_INT_COLUMNS, "TX_FRAUD", "TX_FRAUD_SCENARIO")})
        out["TX_AMOUNT"] = out["TX_AMOUNT"].astype("float64")
        when = pd.to_datetime(out["TX_DATETIME"])
        if when.dt.tz is not None:
            when = when.dt.tz_convert("UTC").dt.tz_localize(None)
        out["TX_DATETIME"] = when.astype("datetime64[ns]")
    except (ValueError, TypeError) as exc:
        raise DatasetError(f"{origin}: bad values in a published column: {exc}") from exc
    return out


def dataset_config(df: pd.DataFrame) -> SimulationConfig | None:
    """The config that generated ``df``, if it is known (generated here or read from our file)."""
    meta = df.attrs.get(ATTRS_KEY)
    if meta is None:
        return None
    try:
        return SimulationConfig.model_validate(meta)
    except ValidationError:
        return None


def labels_frame(df: pd.DataFrame, delay_days: float = 7) -> pd.DataFrame:
    """One label per fraudulent transaction, known ``delay_days`` after it, in label-time order.

    The delay models chargebacks and analyst decisions arriving about a week late, the delay the
    benchmark's terminal-risk features assume.
    """
    fraud = df.loc[df["TX_FRAUD"].to_numpy() == 1]
    labels = pd.DataFrame(
        {
            "TRANSACTION_ID": fraud["TRANSACTION_ID"].to_numpy(),
            "TX_DATETIME": fraud["TX_DATETIME"].to_numpy(),
            "LABEL_TIME": (fraud["TX_DATETIME"] + pd.Timedelta(days=delay_days)).to_numpy(),
            "CUSTOMER_ID": fraud["CUSTOMER_ID"].to_numpy(),
            "TERMINAL_ID": fraud["TERMINAL_ID"].to_numpy(),
            "TX_FRAUD": 1,
        }
    )
    return labels.sort_values(["LABEL_TIME", "TRANSACTION_ID"], kind="stable", ignore_index=True)


@dataclass(frozen=True)
class Summary:
    """What a dataset holds, for the CLI table and for checks against the published figures."""

    rows: int
    frauds: int
    days: int
    customers: int
    terminals: int
    by_scenario: dict[int, int]

    @property
    def fraud_rate(self) -> float:
        return self.frauds / self.rows if self.rows else 0.0

    @property
    def tx_per_day(self) -> float:
        return self.rows / self.days if self.days else 0.0

    @property
    def frauds_per_day(self) -> float:
        return self.frauds / self.days if self.days else 0.0


def summarize(df: pd.DataFrame) -> Summary:
    """Counts of a dataset; days span first to last day present (the config's n_days if known)."""
    cfg = dataset_config(df)
    day = df["TX_TIME_DAYS"]
    days = cfg.n_days if cfg else (int(day.max()) - int(day.min()) + 1 if len(df) else 0)
    scenarios = df["TX_FRAUD_SCENARIO"].value_counts().sort_index()
    return Summary(
        rows=len(df),
        frauds=int(df["TX_FRAUD"].sum()),
        days=days,
        customers=int(df["CUSTOMER_ID"].nunique()),
        terminals=int(df["TERMINAL_ID"].nunique()),
        by_scenario=dict(zip(scenarios.index.astype(int), scenarios.astype(int), strict=True)),
    )
