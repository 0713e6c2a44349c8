"""The pure core of ``fraudscore alerts tail``: parse, dedup, filter, render.

Nothing here opens a socket: the Kafka edge (``analyst.kafka``) hands raw record values to
``follow``, which decides what is shown and passes each alert to a sink (a live table or JSON
lines). Every string that reaches the screen goes through ``mask_pans``: alerts carry tokens
only, but a console is the last place a card number could leak, so it masks again.
"""

from __future__ import annotations

import json
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC
from typing import Literal

from pydantic import ValidationError
from rich.table import Table
from rich.text import Text

from core.messages import Alert
from core.pan import mask_pans

Tier = Literal["review", "block"]
COLUMNS: tuple[str, ...] = ("time", "customer", "amount", "terminal", "score", "tier", "reasons")
_TIER_STYLE = {"review": "yellow", "block": "bold red"}


def parse_alert(value: bytes | None) -> Alert | None:
    """The alert in a record value, or None when it is not one (bad input is data)."""
    try:
        return Alert.model_validate_json(value or b"")
    except ValidationError:
        return None


class Deduper:
    """Drops alerts already seen (at-least-once delivery repeats them after a worker crash).

    Remembers the last ``capacity`` alert ids, so a tail left running for weeks stays bounded;
    a repeat arrives within one uncommitted batch of the original, far inside that horizon.
    """

    def __init__(self, capacity: int = 100_000) -> None:
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity

    def first_time(self, alert_id: str) -> bool:
        if alert_id in self._seen:
            self._seen.move_to_end(alert_id)
            return False
        self._seen[alert_id] = None
        if len(self._seen) > self._capacity:
            self._seen.popitem(last=False)
        return True


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """``--min-score`` and ``--tier``: an alert is shown when it passes both."""

    min_score: float = 0.0
    tier: Tier | None = None

    def accepts(self, alert: Alert) -> bool:
        if alert.score < self.min_score:
            return False
        return self.tier is None or alert.tier == self.tier


@dataclass(slots=True)
class TailStats:
    shown: int = 0
    duplicates: int = 0
    filtered: int = 0
    invalid: int = 0

    def summary(self) -> str:
        return (
            f"{self.shown} alert(s) shown, {self.duplicates} duplicate(s) dropped, "
            f"{self.filtered} filtered out, {self.invalid} unreadable record(s) skipped"
        )


def follow(
    values: Iterable[bytes | None],
    emit: Callable[[Alert], None],
    *,
    alert_filter: AlertFilter | None = None,
    max_alerts: int | None = None,
    deduper: Deduper | None = None,
    stats: TailStats | None = None,
) -> TailStats:
    """Parse, dedup by ``alert_id``, filter, emit; stop after ``max_alerts`` shown."""
    seen = deduper or Deduper()
    accepts = (alert_filter or AlertFilter()).accepts
    st = stats if stats is not None else TailStats()
    if max_alerts is not None and max_alerts <= 0:
        return st
    for value in values:
        alert = parse_alert(value)
        if alert is None:
            st.invalid += 1
        elif not seen.first_time(alert.alert_id):
            st.duplicates += 1
        elif not accepts(alert):
            st.filtered += 1
        else:
            emit(alert)
            st.shown += 1
            if max_alerts is not None and st.shown >= max_alerts:
                break
    return st


def _mask_strings(obj: object) -> object:
    if isinstance(obj, str):
        return mask_pans(obj)
    if isinstance(obj, dict):
        return {mask_pans(str(k)): _mask_strings(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_mask_strings(v) for v in obj]
    return obj


def alert_json(alert: Alert) -> str:
    """One alert as one JSON line, the wire shape (``schemas/alert.v1.json``), strings masked.

    Only strings are masked: numbers are the model's own floats (a score such as
    0.03323263236791982 holds a Luhn-valid digit run) and masking them would break the JSON.
    """
    return json.dumps(_mask_strings(alert.model_dump(mode="json")), ensure_ascii=False)


def _time_cell(alert: Alert) -> str:
    t = alert.event_time
    if t.tzinfo is None:
        return t.isoformat(sep=" ", timespec="seconds")
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def alert_row(alert: Alert, top_reasons: int = 3) -> tuple[str, ...]:
    """The table cells of one alert, in ``COLUMNS`` order, masked."""
    tier = f"{alert.tier} (degraded)" if alert.degraded else alert.tier
    reasons = "; ".join(r.text for r in alert.reasons[:top_reasons])
    cells = (
        _time_cell(alert),
        alert.customer_id,
        f"{alert.amount:,.2f} {alert.currency}",
        alert.terminal_id,
        f"{alert.score:.3f}",
        tier,
        reasons,
    )
    return tuple(mask_pans(c) for c in cells)


class AlertTable:
    """The live table: the newest ``rows`` alerts, newest last, like ``tail -f``."""

    def __init__(self, rows: int = 30, top_reasons: int = 3) -> None:
        self._rows: deque[tuple[tuple[str, ...], str]] = deque(maxlen=rows)
        self._top_reasons = top_reasons
        self.total = 0

    def add(self, alert: Alert) -> None:
        self._rows.append((alert_row(alert, self._top_reasons), alert.tier))
        self.total += 1

    def render(self) -> Table:
        """Cells are ``Text``, never markup: a ``[`` in a token cannot restyle the console."""
        shown = len(self._rows)
        table = Table(title=f"fraud alerts ({self.total} shown, newest {shown} listed)")
        for name in COLUMNS:
            right = name in ("amount", "score")
            table.add_column(name, justify="right" if right else "left", overflow="fold")
        for cells, tier in self._rows:
            row = [Text(c) for c in cells]
            row[COLUMNS.index("tier")].stylize(_TIER_STYLE[tier])
            table.add_row(*row)
        return table
