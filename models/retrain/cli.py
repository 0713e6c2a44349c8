"""``fraudscore retrain``, ``fraudscore models gate`` and ``fraudscore models decisions``.

``models.cli`` registers these functions on its Typer apps. ``retrain`` reads the labelled traffic
back (Kafka topics, or ``--data``), trains a candidate, measures it and the champion on the same
holdout week, writes the comparison report and lets the gate decide (``--promote``). With
``--schedule`` it runs again every ``FRAUDSCORE_RETRAIN_INTERVAL_S`` until SIGTERM/SIGINT; a run
that fails (not enough traffic yet, broker down) prints its one red line and the loop goes on.
"""

from __future__ import annotations

import signal
import threading
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import Annotated

import pandas as pd
import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from core.settings import Settings, get_settings
from models import registry
from models.cli_common import ModelDir, expected_errors, fail, fmt, out, root_dir, steps
from models.retrain import gate as gates
from models.retrain.report import REPORT_MD
from models.retrain.run import RetrainResult, build_training_set, retrain
from models.retrain.source import StreamData, from_file, from_topics

RETRAIN_EPILOG = (
    "Example: fraudscore retrain --promote auto  (reads FRAUDSCORE_TOPIC_TRANSACTIONS and "
    "FRAUDSCORE_TOPIC_LABELS); offline: fraudscore retrain --data var/data/transactions.parquet "
    "--promote never; on a schedule: fraudscore retrain --schedule"
)
GATE_EPILOG = "Example: fraudscore models gate 20180815T120000Z-ab12cd --promote auto"
DECISIONS_EPILOG = "Example: fraudscore models decisions --last 10"


class PromoteChoice(StrEnum):
    AUTO = "auto"
    NEVER = "never"
    FORCE = "force"


PromoteOption = Annotated[
    PromoteChoice,
    typer.Option(
        "--promote",
        help="auto: the gate decides (promote, keep as challenger, discard); never: only measure "
        "and log; force: promote whatever the gate says",
    ),
]


def _table(result: RetrainResult) -> Table:
    cand, champ = result.candidate_holdout, result.champion_holdout
    first, last = result.training.holdout
    table = Table(title=f"Holdout {first} .. {last}", box=box.SIMPLE_HEAD)
    for col in ("metric", f"candidate {result.candidate.version}", f"champion {result.champion}"):
        table.add_column(col, justify="right" if col != "metric" else "left")
    for label, key in (("ROC AUC", "auc"), ("AP", "average_precision")):
        table.add_row(label, fmt(getattr(cand, key), 4), fmt(getattr(champ, key, None), 4))
    cp = champ.card_precision_at_100 if champ else None
    table.add_row("CP@100", fmt(cand.card_precision_at_100, 4), fmt(cp, 4))
    return table


def print_decision(decision: gates.Decision, entry: dict[str, object]) -> None:
    colour = {"promote": "green", "challenger": "yellow"}.get(str(entry["action"]), "red")
    out.print(
        f"gate: [bold]{decision.outcome}[/bold] -> registry [{colour}]{entry['action']}[/{colour}]"
        f" {decision.candidate} ({escape(str(entry.get('reason', '')))})",
        soft_wrap=True,
    )
    for reason in decision.reasons:
        out.print(f"  - {escape(reason)}", soft_wrap=True)
    if entry["action"] == "challenger":
        out.print(
            f"  shadow-score it: FRAUDSCORE_CHALLENGER_VERSION={decision.candidate}, then restart "
            "the workers; compare later with `fraudscore models compare`",
            soft_wrap=True,
        )


def run_once(
    settings: Settings,
    data: Path | None,
    until: datetime | None,
    days: int | None,
    mode: gates.Mode,
    root: Path,
    reports: Path,
) -> RetrainResult:
    with steps() as (tick, say):
        say("reading the labelled traffic")
        source: StreamData = from_file(data) if data else from_topics(settings, tick)
        say(f"computing point-in-time features for {len(source.transactions):,} events")
        training = build_training_set(
            source,
            until=pd.Timestamp(until) if until else None,
            days=days or settings.retrain_days,
        )
        result = retrain(
            training,
            root,
            reports,
            rule=gates.GateRule.from_settings(settings),
            mode=mode,
            budget_per_day=settings.retrain_budget_per_day,
            history_days=settings.retrain_history_days,
            progress=say,
        )
    out.print(_table(result))
    print_decision(result.decision, result.entry)
    out.print(f"report: {result.report / REPORT_MD}", soft_wrap=True)
    return result


def _sleep_until_stopped(seconds: float) -> bool:
    """Wait ``seconds`` or until SIGTERM/SIGINT; True when asked to stop."""
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        return stop.wait(seconds)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def retrain_command(
    data: Annotated[
        Path | None,
        typer.Option(help="A dataset file instead of the topics (labels due 7 days after a fraud)"),
    ] = None,
    until: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"],
            help="Cutoff in event time, UTC: later events and labels do not exist yet "
            "(default: the newest event)",
        ),
    ] = None,
    days: Annotated[
        int | None, typer.Option(min=42, help="Days read back (default FRAUDSCORE_RETRAIN_DAYS)")
    ] = None,
    promote: PromoteOption = PromoteChoice.AUTO,
    model_dir: ModelDir = None,
    reports_dir: Annotated[
        Path | None, typer.Option(help="Default: FRAUDSCORE_RETRAIN_REPORTS_DIR")
    ] = None,
    schedule: Annotated[
        bool, typer.Option(help="Run again every FRAUDSCORE_RETRAIN_INTERVAL_S until stopped")
    ] = False,
    runs: Annotated[int | None, typer.Option(min=1, help="With --schedule: stop after N")] = None,
) -> None:
    """Train a candidate on recent labelled traffic, compare it with the champion, gate it."""
    with expected_errors():
        settings = get_settings()
        root = root_dir(model_dir)
        reports = reports_dir or settings.retrain_reports_dir or settings.reports_dir / "retrain"
    mode: gates.Mode = promote.value
    if not schedule:
        with expected_errors():
            run_once(settings, data, until, days, mode, root, reports)
        return
    done = 0
    while runs is None or done < runs:
        try:
            with expected_errors():
                run_once(settings, data, until, days, mode, root, reports)
        except typer.Exit:
            pass  # the red line is printed; the next run may have the data this one lacked
        done += 1
        if (runs is None or done < runs) and _sleep_until_stopped(settings.retrain_interval_s):
            break


def gate_command(
    candidate: Annotated[str, typer.Argument(help="A version measured by `fraudscore retrain`")],
    promote: PromoteOption = PromoteChoice.AUTO,
    model_dir: ModelDir = None,
) -> None:
    """Judge a measured candidate again under the current gate settings, and apply it."""
    with expected_errors():
        root = root_dir(model_dir)
        registry.bundle_path(root, candidate)
        measured = [
            e for e in registry.decisions(root) if e.get("gate", {}).get("candidate") == candidate
        ]
        if not measured:
            fail(f"{candidate} was never measured against a champion; run `fraudscore retrain`")
        old = gates.Decision.from_dict(measured[-1]["gate"])
        rule = gates.GateRule.from_settings(get_settings())
        decision = gates.decide(
            candidate, old.candidate_metrics, old.champion, old.champion_metrics, rule
        )
        entry = gates.apply(root, decision, promote.value)
    print_decision(decision, entry)


def decisions_command(
    model_dir: ModelDir = None,
    last: Annotated[int, typer.Option(min=1, help="Show the N latest entries")] = 20,
) -> None:
    """The registry's decisions log: promotions, rollbacks and gate decisions, newest last."""
    with expected_errors():
        entries = registry.decisions(root_dir(model_dir))[-last:]
    if not entries:
        out.print("no decisions yet")
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("time (UTC)", "action", "version", "served after", "why"):
        table.add_column(col, overflow="fold")
    for e in entries:
        why = str(e.get("reason", ""))
        if "gate" in e:
            why += "; " + "; ".join(e["gate"].get("reasons", []))
        table.add_row(
            str(e.get("time", ""))[:19].replace("T", " "),
            str(e.get("action")),
            str(e.get("version")),
            str(e.get("current")),
            escape(why),
        )
    out.print(table)
