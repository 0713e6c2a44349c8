"""The alert console's pure core: rows, live table, filters, dedup, JSON lines (no sockets)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from rich.console import Console

from analyst.alerts import (
    COLUMNS,
    AlertFilter,
    AlertTable,
    Deduper,
    TailStats,
    alert_json,
    alert_row,
    follow,
    parse_alert,
)
from core.messages import Alert, Reason
from core.pan import find_pans

PAN = "4111111111111111"


def make_alert(n: int = 1, **changes: object) -> Alert:
    values: dict[str, object] = {
        "alert_id": f"al-{n:04d}",
        "event_id": f"tx-{n}",
        "event_time": datetime(2025, 7, 1, 14, 30, tzinfo=timezone(timedelta(hours=2))),
        "customer_id": f"C{n}",
        "terminal_id": f"T{n}",
        "amount": 1234.5,
        "currency": "EUR",
        "score": 0.873,
        "threshold": 0.5,
        "tier": "review",
        "model_version": "v1",
        "reasons": tuple(
            Reason(feature=f"f{i}", value=1.0, contribution=1.0 / (i + 1), text=f"reason {i}")
            for i in range(4)
        ),
    }
    values.update(changes)
    return Alert(**values)  # type: ignore[arg-type]


def raw(alert: Alert) -> bytes:
    return alert.model_dump_json().encode()


def test_row_has_every_column_in_order_and_reads_well() -> None:
    row = alert_row(make_alert())
    assert len(row) == len(COLUMNS)
    cells = dict(zip(COLUMNS, row, strict=True))
    assert cells["time"] == "2025-07-01 12:30:00Z"  # shown in UTC whatever the offset
    assert cells["customer"] == "C1"
    assert cells["amount"] == "1,234.50 EUR"
    assert cells["terminal"] == "T1"
    assert cells["score"] == "0.873"
    assert cells["tier"] == "review"
    assert cells["reasons"] == "reason 0; reason 1; reason 2"  # the top three, in order


def test_row_marks_degraded_alerts_and_limits_reasons() -> None:
    row = dict(zip(COLUMNS, alert_row(make_alert(degraded=True), top_reasons=1), strict=True))
    assert row["tier"] == "review (degraded)"
    assert row["reasons"] == "reason 0"


def test_row_masks_anything_pan_like() -> None:
    reason = Reason(feature="x", value=1.0, contribution=1.0, text=f"card {PAN} seen")
    alert = make_alert(customer_id=PAN, terminal_id="4111-1111-1111-1111", reasons=(reason,))
    row = alert_row(alert)
    assert not any(find_pans(cell) for cell in row)
    assert "#" * 16 in row[COLUMNS.index("customer")]
    assert row[COLUMNS.index("reasons")].startswith("card #")


def render(table: AlertTable) -> str:
    console = Console(file=io.StringIO(), width=200, record=True, color_system=None)
    console.print(table.render())
    return console.export_text()


def test_live_table_keeps_the_newest_rows_and_never_reads_markup() -> None:
    table = AlertTable(rows=2)
    for n in range(1, 4):
        table.add(make_alert(n, customer_id=f"[bold]C{n}" if n == 3 else f"C{n}"))
    text = render(table)
    assert "C1" not in text  # scrolled out
    assert "C2" in text
    assert "[bold]C3" in text  # shown literally, not interpreted as a style
    assert "3 shown" in text
    assert text.index("C2") < text.index("C3")  # newest last, like tail -f
    for name in COLUMNS:
        assert name in text


def test_filter_by_min_score_and_tier() -> None:
    review, block = make_alert(1, score=0.6), make_alert(2, score=0.95, tier="block")
    assert AlertFilter().accepts(review) and AlertFilter().accepts(block)
    assert AlertFilter(min_score=0.6).accepts(review)  # inclusive
    assert not AlertFilter(min_score=0.61).accepts(review)
    assert not AlertFilter(tier="block").accepts(review)
    assert AlertFilter(tier="block").accepts(block)
    assert not AlertFilter(tier="review").accepts(block)
    assert not AlertFilter(min_score=0.99, tier="block").accepts(block)


def test_deduper_drops_repeats_and_stays_bounded() -> None:
    d = Deduper(capacity=2)
    assert d.first_time("a") and d.first_time("b")
    assert not d.first_time("a")
    assert d.first_time("c")  # evicts "b", the least recently seen
    assert d.first_time("b")
    assert not d.first_time("c")


def test_follow_parses_dedups_filters_and_counts() -> None:
    a1, a2, low = make_alert(1), make_alert(2, tier="block"), make_alert(3, score=0.2)
    values = [raw(a1), b"{not json", raw(a1), None, raw(low), raw(a2), b'{"alert_id": 1}']
    shown: list[Alert] = []
    stats = follow(values, shown.append, alert_filter=AlertFilter(min_score=0.5))
    assert shown == [a1, a2]
    assert stats == TailStats(shown=2, duplicates=1, filtered=1, invalid=3)
    assert "2 alert(s) shown, 1 duplicate(s) dropped" in stats.summary()


def test_follow_stops_at_max_without_reading_further() -> None:
    read: list[int] = []

    def values() -> Iterator[bytes]:
        for n in range(1, 100):
            read.append(n)
            yield raw(make_alert(n))

    shown: list[Alert] = []
    stats = follow(values(), shown.append, max_alerts=3)
    assert [a.event_id for a in shown] == ["tx-1", "tx-2", "tx-3"]
    assert stats.shown == 3 and read == [1, 2, 3]


def test_follow_fills_the_callers_stats_as_it_goes() -> None:
    stats = TailStats()

    def values() -> Iterator[bytes]:
        yield raw(make_alert(1))
        raise KeyboardInterrupt  # Ctrl-C in the middle of a tail

    with pytest.raises(KeyboardInterrupt):
        follow(values(), lambda _: None, stats=stats)
    assert stats.shown == 1


def test_json_line_is_the_wire_shape_and_round_trips() -> None:
    alert = make_alert()
    line = alert_json(alert)
    assert "\n" not in line
    data = json.loads(line)
    assert set(data) == set(Alert.model_fields)
    assert set(data["reasons"][0]) == set(Reason.model_fields)
    assert Alert.model_validate_json(line) == alert
    assert data["event_time"] == "2025-07-01T14:30:00+02:00"


def test_json_line_masks_strings_but_keeps_numbers() -> None:
    score = 0.03323263236791982  # its digits hold a Luhn-valid run; it is not a card number
    alert = make_alert(customer_id=PAN, score=score)
    data = json.loads(alert_json(alert))
    assert data["customer_id"] == "#" * 16
    assert data["score"] == score


def test_parse_alert_refuses_what_is_not_an_alert() -> None:
    assert parse_alert(raw(make_alert())) == make_alert()
    for value in (None, b"", b"[]", b"{bad", b'{"alert_id": "x"}', "é".encode("latin-1")):
        assert parse_alert(value) is None


def test_time_cell_of_a_naive_time_is_left_as_is() -> None:
    row = alert_row(make_alert(event_time=datetime(2025, 7, 1, 9, 0)))
    assert row[0] == "2025-07-01 09:00:00"
    aware = alert_row(make_alert(event_time=datetime(2025, 7, 1, 9, 0, tzinfo=UTC)))
    assert aware[0] == "2025-07-01 09:00:00Z"
