"""``fraudscore perf``: run the performance monitor, print the per-day table.

Mounted by ``cli.main`` as its own group next to ``fraudscore drift`` because it is its own
process (``monitoring.performance.run`` says why). The modules that import pandas and
scikit-learn are imported inside the commands, so mounting this group costs nothing.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from monitoring.cli_common import err, fail, load_settings, out
from monitoring.errors import MonitoringError

if TYPE_CHECKING:
    from monitoring.performance.types import DayPerformance, PerformanceSnapshot

app = typer.Typer(
    help="Live model performance from delayed labels (fraud.scores joined with fraud.labels).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (performance.json's shape)")]
RUN_EXAMPLES = """Examples:

  fraudscore perf run

  FRAUDSCORE_PERF_METRICS_PORT=9110 fraudscore perf run --interval 300

  fraudscore perf run --idle-timeout 10 --max-records 100000
"""
SHOW_EXAMPLES = """Examples:

  fraudscore perf show

  fraudscore perf show --days 3 --model-version 20250701T120000Z-ab12cd

  fraudscore perf show --json > performance.json
"""


@app.command("run", epilog=RUN_EXAMPLES)
def run_cmd(
    max_records: Annotated[
        int | None, typer.Option(min=1, help="Stop after about N records (tests, backfills)")
    ] = None,
    idle_timeout: Annotated[
        float | None, typer.Option(help="Stop after S seconds without a record")
    ] = None,
    interval: Annotated[
        float, typer.Option(min=0.0, help="Recompute the table and the alarm every S seconds")
    ] = 60.0,
) -> None:
    """Consume fraud.scores and fraud.labels; keep the join; write the table, gauges, alarms."""
    from monitoring.performance.alarm import bundle_expected_loader
    from monitoring.performance.run import run_performance

    settings = load_settings()
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=settings.log_level.upper(),
            stream=sys.stderr,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    loader = bundle_expected_loader(settings.model_dir, settings.perf_budget_cards)
    try:
        stats = run_performance(
            settings,
            expected_loader=loader,
            max_records=max_records,
            idle_timeout_s=idle_timeout,
            eval_interval_s=interval,
        )
    except MonitoringError as exc:
        raise fail(str(exc)) from None
    err.print(
        f"performance monitor stopped: {stats.scores} score records, {stats.labels} labels, "
        f"{stats.invalid} invalid, {stats.evaluations} evaluation(s), "
        f"{len(stats.events)} alarm event(s)",
        soft_wrap=True,
    )


@app.command("show", epilog=SHOW_EXAMPLES)
def show_cmd(
    as_json: JsonOpt = False,
    days: Annotated[int | None, typer.Option(min=1, help="Only the newest N event days")] = None,
    model_version: Annotated[str | None, typer.Option(help="Only this model version")] = None,
) -> None:
    """Print live performance per event day and model version, from the monitor's store."""
    from monitoring.performance.evaluate import alarm_rule, open_store, snapshot

    settings = load_settings()
    if not settings.perf_db.is_file():
        raise fail(f"{settings.perf_db}: no performance store yet; run `fraudscore perf run`")
    try:
        with open_store(settings, readonly=True) as store:
            snap = snapshot(store, settings, alarm_rule(settings))
    except MonitoringError as exc:
        raise fail(str(exc)) from None
    rows = [r for r in snap.rows if model_version in (None, r.model_version)]
    if days is not None:
        newest = sorted({r.day for r in rows})[-days:]
        rows = [r for r in rows if r.day in newest]
    snap = snap.model_copy(update={"rows": tuple(rows)})
    if as_json:
        typer.echo(snap.model_dump_json(indent=2))
    else:
        for table in performance_tables(snap):
            out.print(table)
        out.print(legend(snap), highlight=False)


def performance_tables(snap: PerformanceSnapshot) -> list[Table]:
    """One rich table per model version, newest day first; provisional days dimmed and marked.

    A table per version because versions are long (``20250701T120000Z-ab12cd``) and people scan
    for them: as a title they are never cut, and the numbers still fit 80 columns.
    """
    tables = []
    for version in sorted({r.model_version for r in snap.rows}):
        alarm = snap.alarms.get(version)
        verdict = f", alarm ({snap.alarm_metric}): {alarm}" if alarm and snap.alarm_metric else ""
        title = f"model {escape(version)}{verdict}"
        table = Table(box=box.SIMPLE_HEAD, title=title, padding=(0, 0), pad_edge=False)
        table.add_column("day", no_wrap=True)
        table.add_column("state", no_wrap=True)
        for name in (
            "labels",
            "scored",
            "alerts",
            "frauds",
            "prec",
            "recall",
            "AP",
            f"CP@{snap.k}",
        ):
            table.add_column(name, justify="right", no_wrap=True)
        rows = [r for r in snap.rows if r.model_version == version]
        for r in sorted(rows, key=lambda r: r.day, reverse=True):
            table.add_row(*_cells(r), style=None if r.complete else "dim")
        tables.append(table)
    return tables


def legend(snap: PerformanceSnapshot) -> str:
    """What the tables' numbers mean and how far the labels have come."""
    as_of = f"{snap.labels_as_of:%Y-%m-%d %H:%M} UTC" if snap.labels_as_of else "no label yet"
    return (
        f"Labels as of {as_of}; label delay {snap.label_delay_days:g} d: a day is final once "
        "labels pass its end plus the delay. Until then (provisional) unlabelled events count "
        "as legitimate: precision is a lower bound. prec and recall per event, card-day in "
        "brackets; alerts with the alert rate; labels = share of scored events labelled."
    )


def _cells(r: DayPerformance) -> list[str]:
    state = "final" if r.complete else f"[yellow]provisional[/yellow]\nto {r.final_at:%m-%d}"
    return [
        r.day.isoformat(),
        state,
        _pct(r.label_coverage),
        str(r.scored),
        f"{r.alerts}\n{_pct(r.alert_rate)}",
        str(r.frauds),
        f"{_num(r.precision)}\n({_num(r.card_precision)})",
        f"{_num(r.recall)}\n({_num(r.card_recall)})",
        _num(r.average_precision),
        _num(r.cp_at_k),
    ]


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"
