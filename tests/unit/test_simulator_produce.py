"""Rows become valid wire events in event-time order; the produce loop, on a fake producer."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from core.messages import LabelEvent, TransactionEvent
from core.settings import Settings
from simulator.config import SimulationConfig
from simulator.errors import ProduceError, SimulatorError
from simulator.events import check_prefix, event_stream, id_prefix_for, stream_size
from simulator.generate import generate
from simulator.produce import default_id_prefix, produce_stream, to_event, to_label

CFG = SimulationConfig(n_customers=200, n_terminals=400, n_days=20, seed=3)
SETTINGS = Settings(
    kafka_bootstrap_servers="fake:9092", topic_transactions="tx", topic_labels="labels"
)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return generate(CFG)


class FakeProducer:
    """Records what it is given; can refuse the first produce or fail deliveries."""

    def __init__(
        self,
        topics: tuple[str, ...] = ("tx", "labels"),
        full_once: bool = False,
        fail: bool = False,
    ) -> None:
        self.topics, self.full_once, self.fail = topics, full_once, fail
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.pending: list[tuple[Callable[[Any, Any], None], str]] = []
        self.polls = 0

    def produce(
        self, topic: str, *, value: bytes, key: bytes, on_delivery: Callable[[Any, Any], None]
    ) -> None:
        if self.full_once:
            self.full_once = False
            raise BufferError("queue full")
        self.sent.append((topic, key, value))
        self.pending.append((on_delivery, topic))

    def poll(self, timeout: float) -> int:
        self.polls += 1
        served, self.pending = self.pending, []
        for callback, topic in served:
            err = SimpleNamespace(str=lambda: "broker says no") if self.fail else None
            callback(err, SimpleNamespace(topic=lambda t=topic: t))
        return len(served)

    def flush(self, timeout: float) -> int:
        self.poll(0)
        return 0

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any:
        return SimpleNamespace(topics={t: None for t in self.topics})


def test_to_event_maps_the_published_row(data: pd.DataFrame) -> None:
    row = data.iloc[0].to_dict()
    event = to_event(row, "p-")
    assert isinstance(event, TransactionEvent)
    assert event.event_id == f"p-{row['TRANSACTION_ID']}"
    assert event.event_time == row["TX_DATETIME"].to_pydatetime().replace(tzinfo=UTC)
    assert event.customer_id == f"c{row['CUSTOMER_ID']}"
    assert event.terminal_id == f"t{row['TERMINAL_ID']}"
    assert (event.amount, event.currency) == (row["TX_AMOUNT"], "EUR")
    assert event.channel is None and event.merchant_category is None and event.country is None
    assert TransactionEvent.model_validate_json(event.model_dump_json()) == event


def test_to_event_carries_the_extension_columns() -> None:
    df = generate(CFG.model_copy(update={"attributes": True, "n_days": 3}))
    event = to_event(df.iloc[5].to_dict(), "p-")
    assert event.channel in {"card_present", "ecommerce"}
    assert event.merchant_category == df.iloc[5]["MERCHANT_CATEGORY"]
    assert event.country == df.iloc[5]["COUNTRY"]


def test_to_label_is_known_after_the_delay(data: pd.DataFrame) -> None:
    row = data[data["TX_FRAUD"] == 1].iloc[0].to_dict()
    label = to_label(row, "p-", delay_days=7)
    assert isinstance(label, LabelEvent)
    assert label.is_fraud and label.source == "simulator"
    assert (label.label_time - label.event_time).days == 7
    assert label.event_id == f"p-{row['TRANSACTION_ID']}"


def _decoded(records: list[Any]) -> list[tuple[str, bytes, dict[str, Any]]]:
    return [(r.kind, r.key, json.loads(r.value)) for r in records]


def test_event_stream_is_in_event_time_with_keys(data: pd.DataFrame) -> None:
    out = _decoded(list(event_stream(data, "p-", delay_days=7)))
    frauds = int(data["TX_FRAUD"].sum())
    assert [k for k, _, _ in out].count("label") == frauds
    assert [k for k, _, _ in out].count("transaction") == len(data)
    times = [v["label_time"] if k == "label" else v["event_time"] for k, _, v in out]
    assert times == sorted(times)
    for kind, key, value in out:
        expected = value["terminal_id"] if kind == "label" else value["customer_id"]
        assert key == expected.encode()


def test_event_stream_limit_keeps_labels_of_the_kept_transactions(data: pd.DataFrame) -> None:
    out = list(event_stream(data, "p-", limit=2_000, delay_days=30))
    head = data.head(2_000)
    assert sum(r.kind == "transaction" for r in out) == 2_000
    assert sum(r.kind == "label" for r in out) == head["TX_FRAUD"].sum()
    assert stream_size(data, limit=2_000) == len(out)
    assert all(r.kind == "transaction" for r in event_stream(data, "p-", with_labels=False))


def test_label_goes_before_a_transaction_at_the_same_time() -> None:
    t0 = datetime(2018, 4, 1)
    df = pd.DataFrame(
        {
            "TRANSACTION_ID": [0, 1],
            "TX_DATETIME": pd.to_datetime([t0, t0 + pd.Timedelta(days=7)]),
            "CUSTOMER_ID": [1, 2],
            "TERMINAL_ID": [3, 4],
            "TX_AMOUNT": [1.0, 2.0],
            "TX_FRAUD": [1, 0],
        }
    )
    assert [r.kind for r in event_stream(df, "p-")] == ["transaction", "label", "transaction"]


def test_id_prefixes_are_short_distinct_and_stable(data: pd.DataFrame) -> None:
    assert default_id_prefix(SimulationConfig(seed=42)) == "s42c5000t10000d183-"
    variants = [
        CFG,
        CFG.model_copy(update={"seed": 4}),
        CFG.model_copy(update={"n_days": 21}),
        CFG.model_copy(update={"attributes": True}),
        CFG.model_copy(update={"card_testing_day": 3}),
    ]
    prefixes = {default_id_prefix(c) for c in variants}
    assert len(prefixes) == len(variants)
    assert all(check_prefix(p) == p for p in prefixes)
    assert id_prefix_for(data) == default_id_prefix(CFG)
    anonymous = data.copy()
    anonymous.attrs.clear()  # e.g. a CSV without its .json: a digest of the content
    assert id_prefix_for(anonymous).startswith("h")
    with pytest.raises(SimulatorError):
        check_prefix("bad prefix!")


def test_prefix_digits_can_never_join_an_id_into_a_card_number() -> None:
    assert check_prefix("s42c5000t10000d3650-", max_id=99_999_999)
    with pytest.raises(SimulatorError, match="end it with a letter"):
        check_prefix("run-2024-0101-", max_id=1_000_000)
    digest = default_id_prefix(CFG.model_copy(update={"radius": 7.0}))
    assert digest.rsplit("x", 1)[1].rstrip("-").isalpha()


def test_produce_stream_delivers_both_topics(data: pd.DataFrame) -> None:
    fake = FakeProducer(full_once=True)
    stats = produce_stream(data, SETTINGS, producer=fake, progress=False)
    assert (stats.transactions, stats.labels) == (len(data), data["TX_FRAUD"].sum())
    assert {t for t, _, _ in fake.sent} == {"tx", "labels"}
    assert len(fake.sent) == stats.transactions + stats.labels  # the refused one was retried
    first = json.loads(fake.sent[0][2])
    assert first["event_id"] == f"{default_id_prefix(CFG)}0"


def test_produce_stream_raises_on_a_failed_delivery(data: pd.DataFrame) -> None:
    with pytest.raises(ProduceError, match="broker says no"):
        produce_stream(data, SETTINGS, producer=FakeProducer(fail=True), progress=False)


def test_produce_stream_fails_before_sending_when_a_topic_is_missing(data: pd.DataFrame) -> None:
    fake = FakeProducer(topics=("tx",))
    with pytest.raises(ProduceError, match="labels"):
        produce_stream(data, SETTINGS, producer=fake, progress=False)
    assert fake.sent == []
    stats = produce_stream(data, SETTINGS, producer=fake, progress=False, with_labels=False)
    assert stats.labels == 0


def test_produce_stream_rejects_a_bad_rate(data: pd.DataFrame) -> None:
    with pytest.raises(ProduceError, match="rate"):
        produce_stream(data, SETTINGS, producer=FakeProducer(), rate=0, progress=False)
