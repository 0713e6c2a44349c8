"""Labelled history in event time: what retraining learns from and a backtest replays.

From a :class:`~models.retrain.source.StreamData` (the topics read back, or a dataset file):

- the events in ``(cutoff - days, cutoff]``, duplicates by event id dropped (the online store
  ignores them), in time order;
- the labels known at the cutoff (``label_time <= cutoff``; the latest label of an event wins);
  an event younger than the label delay has no target yet (``LABELLED`` False, ``TX_FRAUD`` 0)
  and is history for the features only;
- point-in-time features from the offline feature code (``features.offline.raw_aggregates`` and
  ``features.registry.derive``): a terminal's fraud count uses only the labels that reached the
  online store by the time an event looked at them (labels at most the delay late), as served.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.offline import local_ms, raw_aggregates
from features.registry import LABEL_DELAY_DAYS, derive
from models.errors import DataError
from models.retrain.source import StreamData

FloatArray = npt.NDArray[np.float64]
DELAY = pd.Timedelta(days=LABEL_DELAY_DAYS)


@dataclass(frozen=True)
class LabelledHistory:
    """``frame``: the published columns and LABELLED, rows aligned with ``features``."""

    frame: pd.DataFrame
    features: FloatArray
    since: pd.Timestamp
    cutoff: pd.Timestamp
    source: str


def known_labels(labels: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """The labels known at ``cutoff``, the latest per event, indexed by event id."""
    labels = labels.assign(LABEL_TIME=pd.to_datetime(labels["LABEL_TIME"]))
    known = labels[labels["LABEL_TIME"] <= cutoff].sort_values("LABEL_TIME", kind="stable")
    return known.drop_duplicates("TRANSACTION_ID", keep="last").set_index("TRANSACTION_ID")


def point_in_time_features(frame: pd.DataFrame, fraud_known_online: pd.Series) -> FloatArray:
    """The served features of every row: the offline aggregates, then the one ``derive``."""
    raw = raw_aggregates(frame.assign(TX_FRAUD=fraud_known_online.to_numpy(dtype=np.int64)))
    local = (
        frame["LOCAL_MS"].to_numpy(dtype=np.int64)
        if "LOCAL_MS" in frame
        else local_ms(frame["TX_DATETIME"])
    )
    return derive(raw, frame["TX_AMOUNT"].to_numpy(dtype=np.float64), local)


def labelled_history(
    data: StreamData, *, until: pd.Timestamp | None = None, days: int = 90
) -> LabelledHistory:
    """The events of ``(until - days, until]`` with their features and known labels."""
    tx = data.transactions
    if tx.empty:
        raise DataError(f"no transactions in {data.source}")
    cutoff = pd.Timestamp(until) if until is not None else tx["TX_DATETIME"].max()
    since = cutoff - pd.Timedelta(days=days)
    inside = (tx["TX_DATETIME"] > since) & (tx["TX_DATETIME"] <= cutoff)
    frame = tx[inside].drop_duplicates("TRANSACTION_ID", keep="first")
    frame = frame.sort_values("TX_DATETIME", kind="stable").reset_index(drop=True)
    known = known_labels(data.labels, cutoff)
    fraud = frame["TRANSACTION_ID"].map(known["IS_FRAUD"]).eq(True)  # unlabelled: NaN -> False
    label_time = pd.to_datetime(frame["TRANSACTION_ID"].map(known["LABEL_TIME"]))
    online = fraud & (label_time <= frame["TX_DATETIME"] + DELAY)
    labelled = frame["TX_DATETIME"] <= cutoff - DELAY
    x = point_in_time_features(frame, online)
    frame["TX_FRAUD"] = (fraud & labelled).astype(np.int64)
    frame["LABELLED"] = labelled
    return LabelledHistory(frame, x, since, cutoff, data.source)
