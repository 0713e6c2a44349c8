"""Where a retrain's data comes from: the Kafka topics it was served from, or a dataset file.

Both give a :class:`StreamData` of two frames:

- ``transactions``: TRANSACTION_ID (the event id), TX_DATETIME (naive UTC), LOCAL_MS (wall-clock
  milliseconds at the event's own UTC offset, what ``is_night``/``is_weekend`` are computed
  from), CUSTOMER_ID, TERMINAL_ID, TX_AMOUNT and the text fields of ``TEXT_COLUMNS`` (from a
  file, those it has); in read order (per partition, offset order);
- ``labels``: TRANSACTION_ID, LABEL_TIME (naive UTC), IS_FRAUD.

Kafka (:func:`from_topics`): each topic is read from its first offset up to the end offsets taken
when the read starts, so the read is bounded (traffic produced meanwhile waits for the next run);
no consumer group offset is committed. Transactions go through the worker's own ``decode``: an
event the workers dead-lettered is not trained on either. The topics must retain the traffic a
retrain reads back (``FRAUDSCORE_RETRAIN_DAYS``); with a shorter retention, use a file.

File (:func:`from_file`): a dataset with the published columns (the simulator's, or what
``fraudscore train`` reads); its TX_FRAUD labels are taken to arrive ``LABEL_DELAY_DAYS`` after
each payment, as ``fraudscore produce`` sends them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from pydantic import ValidationError

from core.decode import Rejection, decode
from core.kafka_errors import client_config
from core.messages import LabelEvent
from core.settings import Settings
from features.offline import local_ms
from features.registry import LABEL_DELAY_DAYS
from models.data import load_transactions
from models.errors import DataError

TX_COLUMNS = (
    "TRANSACTION_ID",
    "TX_DATETIME",
    "LOCAL_MS",
    "CUSTOMER_ID",
    "TERMINAL_ID",
    "TX_AMOUNT",
)
TEXT_COLUMNS = {  # the event's own text fields, as a dataset names them
    "CURRENCY": "currency",
    "CHANNEL": "channel",
    "MERCHANT_CATEGORY": "merchant_category",
    "COUNTRY": "country",
}
LABEL_COLUMNS = ("TRANSACTION_ID", "LABEL_TIME", "IS_FRAUD")
STALL_S = 30.0  # no record and no progress for this long: the broker is not answering
Tick = Callable[[str, int, int], None]  # (stage, done, total): "reading <topic>", records


@dataclass(frozen=True)
class StreamData:
    """Raw transactions and labels, and where they were read."""

    transactions: pd.DataFrame
    labels: pd.DataFrame
    source: str
    rejected: int = 0  # transactions the worker's decode refuses, and invalid labels


def from_file(path: Path) -> StreamData:
    """A dataset file (or folder), its labels due ``LABEL_DELAY_DAYS`` after each fraud."""
    df = load_transactions(path)
    tx = pd.DataFrame(
        {
            "TRANSACTION_ID": df["TRANSACTION_ID"].astype(str),
            "TX_DATETIME": df["TX_DATETIME"],
            "LOCAL_MS": local_ms(df["TX_DATETIME"]),
            "CUSTOMER_ID": df["CUSTOMER_ID"],
            "TERMINAL_ID": df["TERMINAL_ID"],
            "TX_AMOUNT": df["TX_AMOUNT"],
            **{c: df[c] for c in TEXT_COLUMNS if c in df.columns},
        }
    )
    fraud = df["TX_FRAUD"].to_numpy() == 1
    labels = pd.DataFrame(
        {
            "TRANSACTION_ID": tx["TRANSACTION_ID"][fraud],
            "LABEL_TIME": df["TX_DATETIME"][fraud] + pd.Timedelta(days=LABEL_DELAY_DAYS),
            "IS_FRAUD": True,
        }
    )
    return StreamData(tx, labels.reset_index(drop=True), str(path))


def _consumer(settings: Settings) -> Consumer:
    return Consumer(
        {
            **client_config(settings),
            "group.id": "fraudscore-retrain",  # required by librdkafka; nothing is committed
            "enable.auto.commit": False,  # a read-back must not move anyone's offsets
            "isolation.level": "read_committed",  # aborted upstream transactions were not scored
            "enable.partition.eof": False,
        }
    )


def _bounds(consumer: Consumer, topic: str, where: str) -> dict[int, tuple[int, int]]:
    """(first, end) offsets of each partition that holds records."""
    try:
        meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
    except KafkaException as exc:
        raise DataError(f"cannot reach Kafka at {where}: {exc.args[0]}") from exc
    if meta is None or meta.error is not None or not meta.partitions:
        raise DataError(f"topic {topic} does not exist on {where}")
    out = {}
    for p in meta.partitions:
        lo, hi = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        if hi > lo:
            out[p] = (lo, hi)
    return out


def read_values(settings: Settings, topic: str, tick: Tick | None = None) -> Iterator[bytes | None]:
    """Every record value of ``topic``, from the first offsets to the ends seen at the start.

    Completion is judged by the consumer's position, not by the last offset delivered: the last
    offsets of a partition may be transaction markers, which are never delivered.
    """
    consumer, where = _consumer(settings), settings.kafka_bootstrap_servers
    try:
        bounds = _bounds(consumer, topic, where)
        total, done = sum(hi - lo for lo, hi in bounds.values()), 0
        consumer.assign([TopicPartition(topic, p, lo) for p, (lo, _) in bounds.items()])
        left, last_progress = dict(bounds), time.monotonic()
        while left:
            before = done
            for m in consumer.consume(5_000, 0.5):
                err: KafkaError | None = m.error()
                if err is not None:
                    if err.fatal():
                        raise DataError(f"reading {topic} from {where} failed: {err.str()}")
                    continue
                p, offset = m.partition(), m.offset()
                if p in left and offset is not None and offset < left[p][1]:
                    done += 1
                    yield m.value()
            positions = consumer.position([TopicPartition(topic, p) for p in left])
            finished = [tp.partition for tp in positions if tp.offset >= left[tp.partition][1]]
            for p in finished:
                del left[p]
            if tick is not None:
                tick(f"reading {topic}", done, total)
            if done > before or finished:
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > STALL_S:
                raise DataError(f"reading {topic} from {where} stalled for {STALL_S:.0f} s")
    finally:
        consumer.close()


def _transactions(settings: Settings, tick: Tick | None) -> tuple[pd.DataFrame, int]:
    cols: dict[str, list[object]] = {c: [] for c in (*TX_COLUMNS, *TEXT_COLUMNS)}
    rejected = 0
    for value in read_values(settings, settings.topic_transactions, tick):
        ev = decode(value, max_bytes=settings.max_message_bytes)
        if isinstance(ev, Rejection):
            rejected += 1
            continue
        utc_ms = int(ev.event_time.timestamp() * 1000)
        offset = ev.event_time.utcoffset()
        cols["TRANSACTION_ID"].append(ev.event_id)
        cols["TX_DATETIME"].append(utc_ms)
        cols["LOCAL_MS"].append(utc_ms + (int(offset.total_seconds() * 1000) if offset else 0))
        cols["CUSTOMER_ID"].append(ev.customer_id)
        cols["TERMINAL_ID"].append(ev.terminal_id)
        cols["TX_AMOUNT"].append(ev.amount)
        for column, field in TEXT_COLUMNS.items():
            cols[column].append(getattr(ev, field))
    frame = pd.DataFrame(cols)
    frame["TX_DATETIME"] = pd.to_datetime(np.asarray(cols["TX_DATETIME"], np.int64), unit="ms")
    frame["LOCAL_MS"] = frame["LOCAL_MS"].astype(np.int64)
    frame["TX_AMOUNT"] = frame["TX_AMOUNT"].astype(np.float64)
    return frame, rejected


def _labels(settings: Settings, tick: Tick | None) -> tuple[pd.DataFrame, int]:
    rows: list[tuple[str, pd.Timestamp, bool]] = []
    rejected = 0
    for value in read_values(settings, settings.topic_labels, tick):
        try:
            lab = LabelEvent.model_validate_json(value or b"")
        except ValidationError:
            rejected += 1
            continue
        when = pd.Timestamp(lab.label_time).tz_convert("UTC").tz_localize(None)
        rows.append((lab.event_id, when, lab.is_fraud))
    frame = pd.DataFrame(rows, columns=list(LABEL_COLUMNS))
    frame["LABEL_TIME"] = pd.to_datetime(frame["LABEL_TIME"])
    frame["IS_FRAUD"] = frame["IS_FRAUD"].astype(bool)
    return frame, rejected


def from_topics(settings: Settings, tick: Tick | None = None) -> StreamData:
    """The transactions and labels topics of ``settings``, read back (module docstring)."""
    tx, bad_tx = _transactions(settings, tick)
    labels, bad_labels = _labels(settings, tick)
    source = (
        f"topics {settings.topic_transactions} + {settings.topic_labels} "
        f"on {settings.kafka_bootstrap_servers}"
    )
    return StreamData(tx, labels, source, bad_tx + bad_labels)
