"""The ``fraudscore`` command line: one entry point for every user.

Each package owns its commands (``devstack.cli``, ``simulator.cli``, ``models.cli``,
``monitoring.drift.cli``, ``monitoring.performance.cli``); this module mounts them and adds the
worker's own: ``worker``, ``demo``, ``schema`` and ``validate``. Errors the user can fix print
one red line and exit 1.

The commands backed by ``devstack`` (``services``, ``demo``) and ``benchmarks`` (``bench``) are
mounted only where that package is installed: the service image leaves them out, and its
``fraudscore`` must still start.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError
from rich.console import Console
from rich.markup import escape

from analyst.cli import app as analyst_app
from cli import schema
from cli.dlq_cli import app as dlq_app
from cli.features_cli import app as features_app
from cli.lists_cli import app as lists_app
from cli.rules_cli import app as rules_app
from cli.topics import topics_cmd
from core.logs import setup_logging
from core.settings import Settings, settings_problems
from models.cli import app as models_cli
from models.cli import models_app
from monitoring.drift.cli import app as drift_app
from monitoring.performance.cli import app as perf_app
from simulator.cli import app as simulator_app


def installed(package: str) -> bool:
    """True when ``package`` can be imported (without importing it)."""
    return importlib.util.find_spec(package) is not None


app = typer.Typer(
    name="fraudscore",
    help="Streaming fraud scoring on Kafka + Redis + LightGBM, with Evidently drift reports.",
    epilog="Examples: fraudscore demo  |  fraudscore worker --help  |  fraudscore services status",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
if installed("devstack"):
    from devstack.cli import services_app

    app.add_typer(services_app, name="services", help="Local Kafka + Redis for tests and the demo.")
app.add_typer(drift_app, name="drift", help="Drift sidecar and reports.")
app.add_typer(perf_app, name="perf", help="Live model performance from delayed labels.")
app.add_typer(simulator_app)
app.add_typer(models_cli)
app.add_typer(analyst_app)  # fraudscore alerts tail, fraudscore label
if installed("benchmarks"):
    from benchmarks.cli import app as bench_app

    app.add_typer(bench_app)  # fraudscore bench
app.add_typer(dlq_app, name="dlq")
app.add_typer(features_app, name="features")
app.add_typer(rules_app, name="rules")
app.command("topics")(topics_cmd)
app.add_typer(lists_app, name="lists")
schema_app = typer.Typer(help="The event contract as JSON Schema.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")
err = Console(stderr=True)


def fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(1)


@app.command("worker")
def worker_cmd(
    max_events: Annotated[int | None, typer.Option(help="Stop after N records (tests)")] = None,
    idle_timeout: Annotated[float | None, typer.Option(help="Stop after S idle seconds")] = None,
    backend: Annotated[str, typer.Option(help="lightgbm or lleaves (compiled)")] = "lightgbm",
) -> None:
    """Run one scoring worker (scale out by starting more; they share one consumer group).

    Example: FRAUDSCORE_METRICS_PORT=9108 fraudscore worker
    """
    from confluent_kafka import KafkaException

    from core.errors import StartupError
    from core.kafka import DeliveryFailed
    from core.kafka_errors import diagnose
    from models.serving import NoModel
    from worker.guard import BadInputFlood
    from worker.run import run

    settings = Settings()
    setup_logging(settings.log_level, settings.worker_id, settings.log_format)
    try:
        stats = run(settings, backend=backend, max_events=max_events, idle_timeout_s=idle_timeout)
    except (StartupError, NoModel, BadInputFlood) as exc:
        raise fail(str(exc)) from None
    except KafkaException as exc:  # a fatal client error: no transactional-id grant, fenced
        why = diagnose([exc.args[0]]).sentence(settings.kafka_bootstrap_servers)
        raise fail(f"{why}; nothing past the last commit was committed") from None
    except DeliveryFailed as exc:  # the batch was not committed: a restart carries on from it
        raise fail(
            f"{exc}; nothing past the last commit was committed, restart the worker"
        ) from None
    err.print(f"worker stopped: {stats}")


@app.command(
    "scenario",
    epilog="Example: FRAUDSCORE_KAFKA_BOOTSTRAP_SERVERS=localhost:9094 fraudscore scenario",
)
def scenario_cmd(
    customers: Annotated[int, typer.Option(help="Simulated customers", min=10)] = 50,
    days: Annotated[int, typer.Option(help="Days of simulated traffic", min=1)] = 14,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the scores")] = 180,
) -> None:
    """Check running workers end to end: produce a small stream, read the outputs, PASS/FAIL.

    Starts nothing: point it at any deployment (compose, local services) whose workers run.
    Exits 1 if a check fails.
    """
    from confluent_kafka import KafkaException

    from cli.scenario import run_scenario
    from simulator.errors import ProduceError

    s = Settings()
    try:
        checks, produced = run_scenario(s, customers=customers, days=days, timeout_s=timeout)
    except KafkaException as exc:
        reason = exc.args[0].str() if exc.args else str(exc)
        raise fail(f"Kafka at {s.kafka_bootstrap_servers}: {reason}") from None
    except (ProduceError, RuntimeError) as exc:
        raise fail(str(exc)) from None
    typer.echo(f"produced {produced:,} events and 3 malformed records")
    for c in checks:
        typer.echo(f"{'PASS' if c.ok else 'FAIL'}  {c.name}: {c.detail}")
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


def demo_cmd(
    events_days: Annotated[int, typer.Option("--days", help="Days of simulated traffic")] = 75,
    customers: Annotated[int, typer.Option(help="Simulated customers")] = 600,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 2,
) -> None:
    """Run the whole system locally: services, model, workers, sidecar, traffic, summary.

    Example: fraudscore demo --days 60 --workers 2
    """
    from cli.demo import DemoError, run_demo

    setup_logging("WARNING")
    try:
        run_demo(days=events_days, customers=customers, n_workers=workers)
    except DemoError as exc:
        raise fail(str(exc)) from None


if installed("devstack"):  # the demo starts its services with devstack
    app.command("demo")(demo_cmd)


@schema_app.command("export")
def schema_export(
    out: Annotated[Path, typer.Option(help="Folder for the .json files")] = schema.SCHEMA_DIR,
) -> None:
    """Write the JSON Schema of every wire message. Example: fraudscore schema export"""
    for path in schema.export(out):
        typer.echo(path)


@schema_app.command("check")
def schema_check() -> None:
    """Exit 1 if the checked-in schema files differ from the models.

    Example: fraudscore schema check
    """
    stale = schema.stale()
    if stale:
        raise fail(f"stale schema files: {stale}; run `fraudscore schema export`")
    typer.echo("schemas up to date")


@models_app.command("compare")
def compare_cmd() -> None:
    """Champion vs the shadow-scored challenger on the labelled stream (fraud.scores + labels).

    Example: FRAUDSCORE_CHALLENGER_VERSION=20240601T... fraudscore worker; later:
    fraudscore models compare
    """
    from rich.table import Table

    from cli.compare import compare, read_topic

    s = Settings()
    try:
        result = compare(read_topic(s, s.topic_scores), read_topic(s, s.topic_labels))
    except ValueError as exc:
        raise fail(str(exc)) from None
    table = Table(title=f"{result.events:,} labelled events, {result.frauds:,} frauds")
    for col in ("metric", f"champion {result.champion}", f"challenger {result.challenger}"):
        table.add_column(col)
    table.add_row("ROC AUC", f"{result.auc[0]:.4f}", f"{result.auc[1]:.4f}")
    table.add_row("average precision", *(f"{v:.4f}" for v in result.average_precision))
    Console().print(table)


@app.command("validate")
def validate_cmd(
    file: Annotated[Path, typer.Argument(help="JSON lines file, one event per line")],
) -> None:
    """Check a file of events against the contract; print per-line errors.

    Example: fraudscore validate docs/examples/events.jsonl
    """
    from core.decode import Rejection, decode

    if not file.is_file():
        raise fail(f"{file} does not exist")
    bad = 0
    with file.open("rb") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            result = decode(line.rstrip(b"\r\n"), max_bytes=Settings().max_message_bytes)
            if isinstance(result, Rejection):
                bad += 1
                typer.echo(f"{file}:{n}: {result.stage}: {result.reason}")
    typer.echo(f"{'ok' if not bad else f'{bad} invalid line(s)'}")
    if bad:
        raise typer.Exit(1)


def main() -> None:
    """The console entry point: ``app``, with settings that do not validate reported as one
    line each (the variable, its value, what is allowed) and exit code 2, not a traceback."""
    try:
        app()
    except (ValidationError, SettingsError) as exc:
        problems = settings_problems(exc)
        if problems is None:
            raise
        for line in problems:
            err.print(f"[red]error:[/red] {escape(line)}", highlight=False, soft_wrap=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
