"""Dataset rows as wire events, in event-time order: the pure half of producing.

Nothing here opens a socket, so the mapping and the ordering are unit tested as plain functions;
``simulator.produce`` only moves the bytes this module yields.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NamedTuple, cast

import numpy as np
import pandas as pd

from core.messages import LabelEvent, TransactionEvent
from simulator.config import SimulationConfig
from simulator.dataset import dataset_config, labels_frame
from simulator.errors import SimulatorError
from simulator.generate import COLUMNS

_PREFIX = re.compile(r"^[A-Za-z0-9._:\-]{0,40}$")  # leaves room for 7+ digits in a 64-char id
_DIGIT_TAIL = re.compile(r"\d+(?:-\d+)*-?$")  # digits a dash would join to the id's digits
Channel = Literal["card_present", "ecommerce"]
Row = Mapping[Any, Any]  # a dict from ``to_dict("records")`` or ``Series.to_dict()``, or a Series
_CHUNK = 10_000  # rows turned into dicts at a time: bounded memory on the full dataset


class Outgoing(NamedTuple):
    """One record to produce: which stream, its key and its JSON value."""

    kind: Literal["transaction", "label"]
    key: bytes
    value: bytes


def default_id_prefix(config: SimulationConfig) -> str:
    """A short prefix from the seed and sizes, e.g. ``s42c500t1000d30-``.

    Any other difference from the published settings (start, radius, extensions) adds a digest of
    the whole config, so two different datasets never share an event id.
    """
    base = f"s{config.seed}c{config.n_customers}t{config.n_terminals}d{config.n_days}"
    sizes = {"seed", "n_customers", "n_terminals", "n_days"}
    rest = {k: v for k, v in config.metadata().items() if k not in sizes}
    if rest == {k: v for k, v in SimulationConfig().metadata().items() if k not in sizes}:
        return f"{base}-"
    return f"{base}x{_letters(repr(sorted(rest.items())).encode(), 6)}-"


def _letters(data: bytes, n: int) -> str:
    """A digest spelt in a-z only: digits in a prefix could join the id into a PAN-like run."""
    return "".join(chr(97 + b % 26) for b in hashlib.blake2b(data, digest_size=n).digest())


def id_prefix_for(df: pd.DataFrame) -> str:
    """The config's prefix when the dataset knows it, else a digest of its published columns."""
    cfg = dataset_config(df)
    if cfg is not None:
        return default_id_prefix(cfg)
    hashed = pd.util.hash_pandas_object(df[list(COLUMNS)], index=False).to_numpy()
    return f"h{_letters(hashed.tobytes(), 8)}-"


def check_prefix(id_prefix: str, max_id: int = 10**8 - 1) -> str:
    """Reject a prefix that would make invalid event ids, before the first message.

    Event ids must not look like a card number (13+ digits, dashes allowed between, passing
    Luhn), so the prefix's trailing digits plus the longest id must stay under 13 digits.
    """
    if not _PREFIX.match(id_prefix):
        raise SimulatorError(f"id prefix {id_prefix!r}: use at most 40 of A-Z a-z 0-9 . _ : -")
    tail = _DIGIT_TAIL.search(id_prefix)
    digits = sum(ch.isdigit() for ch in tail.group()) if tail else 0
    if digits + len(str(max_id)) >= 13:
        raise SimulatorError(
            f"id prefix {id_prefix!r} ends in {digits} digits: ids could look like card numbers; "
            "end it with a letter"
        )
    return id_prefix


def _utc(value: Any) -> datetime:
    """A naive-UTC (or aware) timestamp of any pandas/numpy/python kind, as an aware datetime."""
    if type(value) is datetime and value.tzinfo is UTC:
        return value  # the fast path: ``_records`` has converted the column already
    ts = pd.Timestamp(value)
    ts = ts.tz_localize(UTC) if ts.tzinfo is None else ts.tz_convert(UTC)
    return ts.to_pydatetime()


def _text(row: Row, column: str) -> str | None:
    """An optional extension column's value (absent or missing: None)."""
    value = row.get(column)
    return None if value is None or pd.isna(value) else str(value)


def to_event(row: Row, id_prefix: str) -> TransactionEvent:
    """The wire event of one dataset row (validated: a bad row fails here, not downstream)."""
    return TransactionEvent(
        event_id=f"{id_prefix}{int(row['TRANSACTION_ID'])}",
        event_time=_utc(row["TX_DATETIME"]),
        customer_id=f"c{int(row['CUSTOMER_ID'])}",
        terminal_id=f"t{int(row['TERMINAL_ID'])}",
        amount=float(row["TX_AMOUNT"]),
        currency="EUR",
        channel=cast("Channel | None", _text(row, "CHANNEL")),
        merchant_category=_text(row, "MERCHANT_CATEGORY"),
        country=_text(row, "COUNTRY"),
    )


def to_label(row: Row, id_prefix: str, delay_days: float = 7) -> LabelEvent:
    """The label event of one fraudulent row: known ``delay_days`` after the payment."""
    when = _utc(row["TX_DATETIME"])
    return LabelEvent(
        event_id=f"{id_prefix}{int(row['TRANSACTION_ID'])}",
        event_time=when,
        label_time=when + timedelta(days=delay_days),
        customer_id=f"c{int(row['CUSTOMER_ID'])}",
        terminal_id=f"t{int(row['TERMINAL_ID'])}",
        is_fraud=True,
        source="simulator",
    )


def _records(df: pd.DataFrame) -> Iterator[dict[str, Any]]:
    """Rows as dicts, a chunk at a time, with datetime columns as aware python datetimes.

    Converting a whole column at once is ~10x cheaper than one pd.Timestamp per row.
    """
    for lo in range(0, len(df), _CHUNK):
        chunk = df.iloc[lo : lo + _CHUNK].copy()
        for col in ("TX_DATETIME", "LABEL_TIME"):
            if col in chunk:
                when = pd.DatetimeIndex(chunk[col])
                when = when.tz_localize(UTC) if when.tz is None else when.tz_convert(UTC)
                chunk[col] = pd.Series(when.to_pydatetime(), index=chunk.index, dtype=object)
        yield from cast(list[dict[str, Any]], chunk.to_dict("records"))


def _encode_tx(row: Row, id_prefix: str) -> Outgoing:
    event = to_event(row, id_prefix)
    return Outgoing("transaction", event.customer_id.encode(), event.model_dump_json().encode())


def _encode_label(row: Row, id_prefix: str, delay_days: float) -> Outgoing:
    event = to_label(row, id_prefix, delay_days)
    return Outgoing("label", event.terminal_id.encode(), event.model_dump_json().encode())


def event_stream(
    df: pd.DataFrame,
    id_prefix: str,
    *,
    with_labels: bool = True,
    limit: int | None = None,
    delay_days: float = 7,
) -> Iterator[Outgoing]:
    """Transactions (by TX_DATETIME) and their labels (by label time) merged in event time.

    ``limit`` keeps the first transactions; every fraud among them still gets its label, after
    the last transaction if it falls due later, so a bounded replay still closes the feedback
    loop. On a tie a label goes first: a fraud exactly ``delay`` old counts as known, as the
    label-delayed terminal window (t - delay - w, t - delay] expects.
    """
    tx = df.sort_values(["TX_DATETIME", "TRANSACTION_ID"], kind="stable", ignore_index=True)
    tx = tx.head(limit) if limit is not None else tx
    label_rows: list[dict[str, Any]] = []
    due = np.empty(0, dtype=np.int64)  # label j goes out just before transaction due[j]
    if with_labels:
        labels = labels_frame(tx, delay_days)
        label_rows = list(_records(labels))
        due = np.searchsorted(tx["TX_DATETIME"], labels["LABEL_TIME"], side="left")
    j = 0
    for i, row in enumerate(_records(tx)):
        while j < len(label_rows) and due[j] <= i:
            yield _encode_label(label_rows[j], id_prefix, delay_days)
            j += 1
        yield _encode_tx(row, id_prefix)
    for rest in label_rows[j:]:
        yield _encode_label(rest, id_prefix, delay_days)


def stream_size(df: pd.DataFrame, *, with_labels: bool = True, limit: int | None = None) -> int:
    """How many records ``event_stream`` yields (for the progress bar's total)."""
    head = df if limit is None else df.sort_values("TX_DATETIME", kind="stable").head(limit)
    return len(head) + (int(head["TX_FRAUD"].sum()) if with_labels else 0)
