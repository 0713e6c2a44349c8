"""A backtest written down: ``backtest.json`` (every figure) and ``backtest.md`` (the tables)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from decision.backtest import Backtest, PolicyFigures

JSON_NAME, MD_NAME = "backtest.json", "backtest.md"
ONLY_NOTE = (
    "only this rule: frauds caught through this rule alone (review/block); frauds it lets "
    "through (allow); in shadow, frauds it would add (review/block) or let through (allow)"
)


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def policy_rows(bt: Backtest) -> list[tuple[str, str, str]]:
    """(figure, this policy, the one it would replace) for the policy-level table."""
    a, b = bt.policy, bt.against

    def row(label: str, get: str, fmt: str = "{:,.1f}") -> tuple[str, str, str]:
        def cell(p: PolicyFigures) -> str:
            value = getattr(p, get)
            return pct(value) if fmt == "%" else fmt.format(value)

        return label, cell(a), cell(b)

    return [
        row("alerts (review + block)", "alerts", "{:,}"),
        row("alerts per day", "alerts_per_day"),
        row("reviews per day", "reviews_per_day"),
        row("blocks per day", "blocks_per_day"),
        row("frauds caught", "frauds_caught", "{:,}"),
        row("precision", "precision", "%"),
        row("recall", "recall", "%"),
        row(f"card precision@{bt.k}", "card_precision_at_k", "{:.3f}"),
    ]


RULE_HEADER = (
    "rule",
    "action",
    "mode",
    "hits",
    "hits/day",
    "frauds",
    "precision",
    "recall",
    "only this rule",
    "failures",
)


def rule_rows(p: PolicyFigures) -> list[tuple[str, ...]]:
    return [
        (
            r.id,
            r.action,
            r.mode,
            f"{r.hits:,}",
            f"{r.hits_per_day:,.1f}",
            f"{r.frauds:,}",
            pct(r.precision),
            pct(r.recall),
            f"{r.only_this_rule:,}",
            f"{r.failures:,}",
        )
        for r in p.rules
    ]


def _name(p: PolicyFigures) -> str:
    return f"{p.label} ({p.version})" if p.version else p.label


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    align = ["---"] + ["---:" if h not in ("action", "mode") else "---" for h in header[1:]]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def render_markdown(bt: Backtest) -> str:
    lines = [
        f"# Backtest: {_name(bt.policy)} against {_name(bt.against)}",
        "",
        f"- data: {bt.source}; judged: {bt.events:,} events with due labels, {bt.frauds:,} "
        f"frauds, {bt.first_day} .. {bt.last_day} ({bt.days} days; {bt.history_events:,} "
        "events read for the features)",
        f"- model: {bt.model_version}",
        "",
        *_table(("", _name(bt.policy), _name(bt.against)), policy_rows(bt)),
    ]
    for p in (bt.policy, bt.against):
        if p.rules:
            lines += ["", f"## Rules of {_name(p)}", "", *_table(RULE_HEADER, rule_rows(p))]
    if bt.policy.rules or bt.against.rules:
        lines += ["", f"{ONLY_NOTE}."]
    return "\n".join(lines) + "\n"


def write(bt: Backtest, folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    js, md = folder / JSON_NAME, folder / MD_NAME
    js.write_text(json.dumps(bt.to_dict(), indent=2) + "\n")
    md.write_text(render_markdown(bt))
    return js, md
