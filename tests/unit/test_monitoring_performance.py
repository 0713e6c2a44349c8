"""The pure core of live performance: hand-computed numbers, late labels, replays, completeness.

The scenario (label delay 1 day, k = 2), event times on 2025-07-01 (D1) and 2025-07-02 (D2):

    version v1, D1   event  card  score  alerted  label
                     e1     a     0.9    yes      fraud
                     e2     a     0.6    yes      -
                     e3     b     0.8    yes      legit (analyst)
                     e4     c     0.3    no       fraud
                     e5     d     0.1    no       -
    version v2, D1   e6     e     0.95   yes      fraud
                     e7     f     0.2    no       -
    version v1, D2   e8     a     0.7    yes      -
                     e9     g     0.2    no       fraud, but only known on 07-03 06:00 (late)
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from core.messages import LabelEvent, ScoreRecord
from monitoring.performance.table import (
    PerformanceBook,
    day_of,
    final_at,
    is_complete,
    performance_table,
    to_ms,
)
from monitoring.performance.types import DayPerformance, WindowPerformance, rolling

D1, D2 = date(2025, 7, 1), date(2025, 7, 2)
T0 = datetime(2025, 7, 1, 10, 0, tzinfo=UTC)
DELAY = timedelta(days=1)
K = 2


def score(
    i: int, card: str, value: float, alerted: bool, *, day: int = 0, version: str = "v1"
) -> ScoreRecord:
    return ScoreRecord(
        event_id=f"e{i}",
        event_time=T0 + timedelta(days=day, minutes=i),
        customer_id=card,
        topic="payments",
        partition=0,
        offset=i,
        score=value,
        model_version=version,
        alerted=alerted,
    )


def label(i: int, fraud: bool, known: datetime, *, day: int = 0) -> LabelEvent:
    return LabelEvent(
        event_id=f"e{i}",
        event_time=T0 + timedelta(days=day, minutes=i),
        label_time=known,
        customer_id="c",
        terminal_id="t",
        is_fraud=fraud,
        source="analyst",
    )


SCORES = [
    score(1, "a", 0.9, True),
    score(2, "a", 0.6, True),
    score(3, "b", 0.8, True),
    score(4, "c", 0.3, False),
    score(5, "d", 0.1, False),
    score(6, "e", 0.95, True, version="v2"),
    score(7, "f", 0.2, False, version="v2"),
    score(8, "a", 0.7, True, day=1),
    score(9, "g", 0.2, False, day=1),
]
ON_TIME = [
    label(1, True, datetime(2025, 7, 2, 12, tzinfo=UTC)),
    label(3, False, datetime(2025, 7, 2, 9, tzinfo=UTC)),
    label(4, True, datetime(2025, 7, 2, 18, tzinfo=UTC)),
    label(6, True, datetime(2025, 7, 2, 20, tzinfo=UTC)),
]
LATE = label(9, True, datetime(2025, 7, 3, 6, tzinfo=UTC), day=1)


def rows_by_key(rows: list[DayPerformance]) -> dict[tuple[str, date], DayPerformance]:
    return {(r.model_version, r.day): r for r in rows}


def test_day_numbers_by_hand() -> None:
    table = rows_by_key(performance_table(SCORES, ON_TIME, k=K, label_delay=DELAY))
    assert list(table) == [("v1", D1), ("v2", D1), ("v1", D2)]  # by day, then version
    v1 = table["v1", D1]
    counts = (v1.scored, v1.labelled, v1.frauds, v1.alerts, v1.alerted_frauds)
    assert counts == (5, 3, 2, 3, 1)
    assert (v1.card_days, v1.card_alerts, v1.card_alert_frauds, v1.fraud_cards) == (4, 2, 1, 2)
    assert v1.precision == pytest.approx(1 / 3) and v1.recall == pytest.approx(1 / 2)
    assert (v1.card_precision, v1.card_recall) == (0.5, 0.5)  # card a: e1 fraud + e2 alerted
    assert v1.alert_rate == pytest.approx(3 / 5) and v1.label_coverage == pytest.approx(3 / 5)
    # AP: ranked e1 F, e3, e2, e4 F, e5 -> (1/1 + 2/4) / 2
    assert v1.average_precision == pytest.approx(0.75)
    # CP@2: cards by best score a .9 (fraud), b .8 -> 1 of 2
    assert v1.cp_at_k == 0.5 and (v1.k, v1.label_delay_days) == (2, 1.0)

    v2 = table["v2", D1]
    assert (v2.scored, v2.frauds, v2.precision, v2.recall, v2.average_precision) == (
        2,
        1,
        1.0,
        1.0,
        1.0,
    )
    assert v2.cp_at_k == 0.5  # a day with fewer than k cards still divides by k


def test_undefined_ratios_are_none_not_zero() -> None:
    d2 = rows_by_key(performance_table(SCORES, ON_TIME, k=K, label_delay=DELAY))["v1", D2]
    assert (d2.scored, d2.frauds, d2.alerts) == (2, 0, 1)
    assert d2.recall is None and d2.average_precision is None and d2.card_recall is None
    assert d2.precision == 0.0  # one alert, no fraud known yet: a lower bound


def test_a_day_is_complete_once_labels_pass_its_end_plus_the_delay() -> None:
    assert final_at(D1, DELAY) == datetime(2025, 7, 3, tzinfo=UTC)
    assert not is_complete(D1, datetime(2025, 7, 2, 23, 59, tzinfo=UTC), DELAY)
    assert is_complete(D1, datetime(2025, 7, 3, tzinfo=UTC), DELAY)
    assert not is_complete(D1, None, DELAY)

    before = rows_by_key(performance_table(SCORES, ON_TIME, k=K, label_delay=DELAY))
    assert not any(r.complete for r in before.values())  # newest label 07-02 20:00 < 07-03

    after = rows_by_key(performance_table(SCORES, [*ON_TIME, LATE], k=K, label_delay=DELAY))
    assert after["v1", D1].complete and after["v2", D1].complete
    assert not after["v1", D2].complete  # final at 07-04 00:00


def test_a_late_label_firms_up_its_day() -> None:
    d2 = rows_by_key(performance_table(SCORES, [*ON_TIME, LATE], k=K, label_delay=DELAY))["v1", D2]
    assert (d2.frauds, d2.alerted_frauds, d2.recall, d2.label_coverage) == (1, 0, 0.0, 0.5)
    assert d2.average_precision == 0.5  # e8 .7 legit ranked above e9 .2 fraud


def test_replayed_records_change_nothing_and_order_does_not_matter() -> None:
    once = performance_table(SCORES, [*ON_TIME, LATE], k=K, label_delay=DELAY)
    replay = [score(2, "a", 0.01, False, version="v9")]  # same event id: the first one wins
    labels = [*ON_TIME, LATE, *ON_TIME, LATE]
    random.Random(7).shuffle(labels)
    twice = performance_table([*SCORES, *SCORES, *replay], labels, k=K, label_delay=DELAY)
    assert twice == once


def test_the_newest_label_wins_and_fraud_wins_a_tie() -> None:
    chargeback = label(3, True, datetime(2025, 7, 5, tzinfo=UTC))  # analyst said legit first
    stale = label(1, False, datetime(2025, 7, 1, 12, tzinfo=UTC))  # older than the fraud label
    tie = label(5, False, datetime(2025, 7, 2, tzinfo=UTC))
    tie_fraud = label(5, True, datetime(2025, 7, 2, tzinfo=UTC))
    for order in ([chargeback, stale, tie, tie_fraud], [tie_fraud, tie, stale, chargeback]):
        book = PerformanceBook()
        book.add_scores(SCORES)
        book.add_labels(ON_TIME)
        book.add_labels(order)
        v1 = rows_by_key(book.table(k=K, label_delay=DELAY))["v1", D1]
        assert (v1.frauds, v1.alerted_frauds) == (4, 2)  # e1, e3, e4, e5; alerted: e1, e3
        assert book.watermark == datetime(2025, 7, 5, tzinfo=UTC)


def test_incremental_book_equals_the_one_shot_table() -> None:
    book = PerformanceBook()
    for i, record in enumerate(SCORES):
        book.add_scores([record])
        if i < len(ON_TIME):
            book.add_labels([ON_TIME[i]])
    book.add_labels([LATE])
    assert book.table(k=K, label_delay=DELAY) == performance_table(
        SCORES, [*ON_TIME, LATE], k=K, label_delay=DELAY
    )


def test_windows_pool_counts_and_average_ap_and_cp() -> None:
    rows = performance_table(SCORES, [*ON_TIME, LATE], k=K, label_delay=DELAY)
    v1 = [r for r in rows if r.model_version == "v1"]
    window = WindowPerformance.of(v1)
    assert (window.first_day, window.last_day, window.days, window.complete) == (D1, D2, 2, False)
    assert (window.alerts, window.alerted_frauds, window.frauds) == (4, 1, 3)
    assert window.precision == 0.25 and window.recall == pytest.approx(1 / 3)
    assert window.average_precision == pytest.approx((0.75 + 0.5) / 2)
    assert window.cp_at_k == pytest.approx((0.5 + 0.5) / 2)
    only_complete = rolling(rows, "v1", 7)
    assert only_complete is not None and only_complete.days == 1  # D2 is not complete
    assert rolling(rows, "v-unknown", 7) is None


def test_time_helpers_are_exact_and_utc() -> None:
    naive = datetime(2025, 7, 1, 23, 59, 59, 999000)
    assert to_ms(naive) == to_ms(naive.replace(tzinfo=UTC)) == 1_751_414_399_999
    assert day_of(to_ms(naive)) == D1 and day_of(to_ms(naive) + 1) == D2
