"""``fraudscore rules backtest``: what a policy would have done on labelled history.

Two sources of history: a dataset file (``--data``; its labels are taken to arrive the label
delay after each payment, as ``fraudscore produce`` sends them), or the live record of the last
N days (``--live-days``: the transactions, labels and score records topics read back; each
event keeps the score it was served with). ``decision.backtest`` has the figures and what each
one means.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich import box
from rich.table import Table

from core.settings import Settings, get_settings
from decision import policy_store
from decision.backtest import Backtest, BacktestError, PolicyFigures, replay
from decision.backtest import backtest as run_backtest
from decision.backtest_report import ONLY_NOTE, policy_rows, rule_rows, write
from decision.policy import PolicyError, load_policy
from decision.rules import Ruleset
from features.registry import LABEL_DELAY_DAYS, WINDOWS_DAYS
from models import registry
from models.bundle import load_bundle
from models.cli_common import ModelDir, err, expected_errors, fail, out, root_dir, steps
from models.history import LabelledHistory, labelled_history
from models.retrain.source import StreamData, Tick, from_file, from_topics, read_values
from models.serving import ServingModel

EPILOG = (
    "Example: fraudscore rules backtest --policy policies/example.yaml --data "
    "var/data/transactions.parquet  (on recent live traffic: --live-days 14 instead of --data)"
)
WARM_UP_DAYS = LABEL_DELAY_DAYS + max(WINDOWS_DAYS)  # until every feature window is full
ALL_DAYS = 100_000  # a dataset file is read whole
SHORT_HEADER = ("rule", "action", "hits", "/day", "frauds", "prec.", "recall", "only")


def _policy(spec: str, root: Path) -> tuple[str, Ruleset | None]:
    """``current`` (the policy in force, or the model alone if none), ``none``, or a file."""
    try:
        if spec == "none":
            return "model alone", None
        if spec == "current":
            version = policy_store.current_version(root)
            if version is None:
                return "model alone (no policy in force)", None
            return "current", Ruleset(policy_store.load_version(root, version), version)
        path = Path(spec)
        policy = load_policy(path)
        return path.name, Ruleset(policy, policy_store.policy_version(policy))
    except PolicyError as exc:
        for line in exc.problems:
            err.print(f"[red]refused:[/red] {exc.source}: {line}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except policy_store.PolicyStoreError as exc:
        fail(str(exc))


def _model(root: Path, version: str | None) -> ServingModel:
    if version is None:
        return ServingModel(registry.current_bundle(root))
    return ServingModel(load_bundle(registry.bundle_path(root, version)))


def _utc(when: datetime | None) -> pd.Timestamp | None:
    """A naive UTC timestamp (the history's clock); a naive input is taken as UTC."""
    if when is None:
        return None
    ts = pd.Timestamp(when)
    return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo is not None else ts


def _recorded_scores(settings: Settings, tick: Tick) -> dict[str, float]:
    """Event id -> the score its live record holds (the latest record of an event wins)."""
    scores: dict[str, float] = {}
    for value in read_values(settings, settings.topic_scores, tick):
        try:
            rec = json.loads(value or b"")
            scores[str(rec["event_id"])] = float(rec["score"])
        except (ValueError, KeyError, TypeError):
            continue  # not a score record: nothing to replay it with
    return scores


def _default_since(
    history: LabelledHistory, model: ServingModel
) -> tuple[pd.Timestamp | None, str]:
    """After the model's training window if the data reaches past it, else after the warm-up
    (the first days' feature windows are not full yet); and why, to print."""
    first = history.frame["TX_DATETIME"].min()
    due = history.cutoff - pd.Timedelta(days=LABEL_DELAY_DAYS)
    trained = model.bundle.metadata.get("training", {}).get("train_end_exclusive")
    end = pd.Timestamp(trained) if trained else None
    if end is not None and first < end <= due:
        return end, f"judged from {end.date()}: model {model.version} was trained on days before"
    warm = first.normalize() + pd.Timedelta(days=WARM_UP_DAYS)
    if warm < due:
        return warm, f"judged from {warm.date()}: the first {WARM_UP_DAYS} days fill the windows"
    return None, "judged: every event with due labels (too few days for a warm-up)"


def _print(bt: Backtest, since_note: str) -> None:
    a, b = bt.policy, bt.against
    title = (
        f"{bt.events:,} judged events, {bt.frauds:,} frauds, {bt.first_day} .. {bt.last_day} "
        f"({bt.days} days), model {bt.model_version}"
    )
    table = Table("", a.label, b.label, title=title, box=box.SIMPLE_HEAD)
    for row in policy_rows(bt):
        table.add_row(*row)
    out.print(table)
    if since_note:
        out.print(since_note, soft_wrap=True)
    for p in (a, b):
        if p.rules:
            _print_rules(p)
    note = ONLY_NOTE.replace("only this rule", "only")
    out.print(f"[dim]* in shadow; {note}[/dim]", soft_wrap=True)


def _short(n: float) -> str:
    return f"{n / 1000:.1f}k" if n >= 10_000 else f"{n:,.0f}" if n >= 100 else f"{n:.3g}"


def _print_rules(p: PolicyFigures) -> None:
    """The rule table, narrow enough for an 80-column terminal (the files have it all)."""
    failing = any(r.failures for r in p.rules)
    table = Table(
        title=f"rules of {p.label}", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True
    )
    for i, name in enumerate(SHORT_HEADER + (("fail",) if failing else ())):
        table.add_column(name, no_wrap=True, justify="left" if i < 2 else "right")
    for rule, cells in zip(p.rules, rule_rows(p), strict=True):
        action = f"{rule.action}*" if rule.mode == "shadow" else rule.action
        counts = (_short(rule.hits), _short(rule.hits_per_day), _short(rule.frauds))
        table.add_row(cells[0], action, *counts, *cells[6:9], *((cells[9],) if failing else ()))
    out.print(table)


def backtest_cmd(
    policy: Annotated[Path, typer.Option("--policy", help="The policy file to judge")],
    against: Annotated[
        str,
        typer.Option(help="current: the policy in force; none: the model alone; or a policy file"),
    ] = "current",
    data: Annotated[
        Path | None, typer.Option(help="Labelled history: a dataset (parquet or CSV)")
    ] = None,
    live_days: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Instead of --data: the live record, the last N days whose labels are due "
            "(transactions, labels and score records topics)",
        ),
    ] = None,
    since: Annotated[
        datetime | None, typer.Option(help="First judged event time (UTC); default: after training")
    ] = None,
    until: Annotated[datetime | None, typer.Option(help="Last judged event time (UTC)")] = None,
    k: Annotated[
        int, typer.Option(min=1, help="Cards analysts check a day (card precision@k)")
    ] = 100,
    model: Annotated[str | None, typer.Option(help="Model version (default: current)")] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder for backtest.json and backtest.md")
    ] = None,
    model_dir: ModelDir = None,
) -> None:
    """Replay labelled history through the features, the model and the policy; compare it with
    the policy it would replace: per rule and per policy, printed and written as JSON and
    markdown."""
    if (data is None) == (live_days is None):
        fail("give one of --data FILE or --live-days N")
    root, settings = root_dir(model_dir), get_settings()
    new = _policy(str(policy), root)
    old = _policy(against, root)
    with expected_errors(), steps() as (tick, say):
        scorer = _model(root, model)
        say("reading the labelled history")
        source: StreamData = from_file(data) if data else from_topics(settings, tick)
        say(f"point-in-time features for {len(source.transactions):,} events")
        days = ALL_DAYS if live_days is None else live_days + LABEL_DELAY_DAYS + WARM_UP_DAYS
        history = labelled_history(source, days=days)
        recorded: dict[str, float] | None = None
        note, start = "", None
        if live_days is not None:
            recorded = _recorded_scores(settings, tick)
            start = history.cutoff - pd.Timedelta(days=LABEL_DELAY_DAYS + live_days)
            start = pd.Timestamp(start)
            note = (
                f"judged: the last {live_days} days whose labels are due; scores as served "
                f"({len(recorded):,} score records), the rest by model {scorer.version}"
            )
        else:
            start, note = _default_since(history, scorer)
        first = _utc(since) if since is not None else start
        try:
            r = replay(
                history, scorer, since=first, until=_utc(until), recorded=recorded, tick=tick
            )
        except BacktestError as exc:
            fail(str(exc))
        say("deciding")
        bt = run_backtest(r, new, old, k=k, tick=tick)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = (
        out_dir or Path("var/backtests") / f"{new[1].policy.name if new[1] else 'none'}-{stamp}"
    )
    _print(bt, note)
    js, md = write(bt, folder)
    out.print(f"written: {js} {md}", soft_wrap=True)
