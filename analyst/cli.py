"""``fraudscore alerts tail`` and ``fraudscore label``: the fraud analyst's console.

Mount on the main CLI as a whole (``root.add_typer(analyst.cli.app)`` merges ``label`` and the
``alerts`` group) or piece by piece (``root.command("label")(label_cmd)``,
``root.add_typer(alerts_app, name="alerts")``). Expected failures (a bad time, a PAN-like id, a
missing file or topic, an unreachable broker) print one red line and exit 1, no traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.live import Live
from rich.markup import escape

from analyst import kafka
from analyst.alerts import AlertFilter, AlertTable, TailStats, alert_json, follow
from analyst.errors import AnalystError
from analyst.labels import (
    TIME_EXAMPLE,
    Typed,
    build_label,
    describe,
    from_alert,
    merge,
    parse_time,
    read_alert,
)
from core.messages import Alert
from core.pan import mask_pans
from core.settings import Settings

app = typer.Typer(
    help="Fraud analyst tools: tail alerts, label transactions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
alerts_app = typer.Typer(
    help="Fraud alerts for analysts.", no_args_is_help=True, pretty_exceptions_enable=False
)
app.add_typer(alerts_app, name="alerts")

Emit = Callable[[Alert], None]
out = Console()
err = Console(stderr=True, soft_wrap=True)  # an error stays one line, however narrow


class TierChoice(StrEnum):
    REVIEW = "review"
    BLOCK = "block"


class SourceChoice(StrEnum):
    ANALYST = "analyst"
    CHARGEBACK = "chargeback"


def fail(message: str) -> typer.Exit:
    """Print one red line (masked, markup escaped); raise the returned Exit(1) ``from None``."""
    err.print(f"[red]error:[/red] {escape(mask_pans(message))}", highlight=False)
    return typer.Exit(1)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors(include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise fail(f"invalid setting {where}: {first['msg']}") from None


@alerts_app.command(
    "tail",
    epilog="Examples: fraudscore alerts tail --tier block --min-score 0.9  |  "
    "fraudscore alerts tail --json --from-beginning --max 100 > alerts.jsonl",
)
def tail_cmd(
    from_beginning: Annotated[
        bool, typer.Option("--from-beginning", help="Start at the oldest alert kept")
    ] = False,
    max_alerts: Annotated[
        int | None, typer.Option("--max", min=1, help="Stop after N alerts shown")
    ] = None,
    idle_timeout: Annotated[
        float | None, typer.Option(min=0.0, help="Stop after S seconds without a record")
    ] = None,
    min_score: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Only alerts scoring at least this")
    ] = 0.0,
    tier: Annotated[TierChoice | None, typer.Option(help="Only this tier")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One alert JSON per line, for piping")
    ] = False,
    rows: Annotated[int, typer.Option(min=1, help="Rows kept in the live table")] = 30,
) -> None:
    """Follow the alerts topic: a live table, or JSON lines with --json.

    Reads from the end (new alerts only) unless --from-beginning; drops repeats by alert_id.
    """
    settings = load_settings()
    stats = TailStats()
    alert_filter = AlertFilter(min_score, tier.value if tier else None)

    try:
        with (
            kafka.alert_values(
                settings, from_beginning=from_beginning, idle_timeout_s=idle_timeout
            ) as values,
            _sink(as_json, rows) as emit,
        ):
            follow(values, emit, alert_filter=alert_filter, max_alerts=max_alerts, stats=stats)
    except AnalystError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a live tail ends: print the counts, exit 0
    err.print(stats.summary(), highlight=False)


@contextmanager
def _sink(as_json: bool, rows: int) -> Iterator[Emit]:
    """Where shown alerts go: JSON lines on stdout, or a live table redrawn on each alert."""
    if as_json:
        yield _echo_json
        return
    view = AlertTable(rows)
    with Live(view.render(), console=out, refresh_per_second=4) as live:

        def emit(alert: Alert) -> None:
            view.add(alert)
            live.update(view.render())

        yield emit


def _echo_json(alert: Alert) -> None:
    typer.echo(alert_json(alert))  # click flushes each line: a pipe sees alerts as they come


@app.command(
    "label",
    epilog=f"Examples: fraudscore label tx-123 --fraud --customer C42 --terminal T7 "
    f"--event-time {TIME_EXAMPLE}  |  "
    "fraudscore label --from-alert alert.json --legit --source chargeback",
)
def label_cmd(
    event_id: Annotated[
        str | None, typer.Argument(help="event_id of the labelled transaction")
    ] = None,
    is_fraud: Annotated[
        bool | None,
        typer.Option("--fraud/--legit", help="The decision (one is required)", show_default=False),
    ] = None,
    customer: Annotated[str | None, typer.Option(help="Customer/card token of it")] = None,
    terminal: Annotated[str | None, typer.Option(help="Terminal id of it")] = None,
    event_time: Annotated[
        str | None, typer.Option(help="Its event time, ISO 8601 with offset")
    ] = None,
    label_time: Annotated[
        str | None, typer.Option(help="When the label became known (default: now, UTC)")
    ] = None,
    source: Annotated[SourceChoice, typer.Option(help="Who decided")] = SourceChoice.ANALYST,
    alert_file: Annotated[
        Path | None,
        typer.Option("--from-alert", help="Take event, customer, terminal, time from an alert"),
    ] = None,
) -> None:
    """Send a fraud/legit label to the labels topic; workers apply it to terminal risk.

    Terminal risk counts it once the label delay (7 days of event time) has passed.
    """
    try:
        if is_fraud is None:
            raise fail("say --fraud or --legit")
        typed = Typed(
            event_id,
            customer,
            terminal,
            parse_time(event_time, "--event-time") if event_time is not None else None,
        )
        saved = from_alert(read_alert(alert_file)) if alert_file is not None else None
        now = datetime.now(UTC)
        when = parse_time(label_time, "--label-time") if label_time is not None else now
        label = build_label(
            merge(typed, saved), is_fraud=is_fraud, label_time=when, source=source.value
        )
        delivered = kafka.publish_label(load_settings(), label)
    except AnalystError as exc:
        raise fail(str(exc)) from None
    typer.echo(
        f"sent to {delivered.topic} (partition {delivered.partition}, "
        f"offset {delivered.offset}): {describe(label)}"
    )
    typer.echo(mask_pans(label.model_dump_json()))
