"""``fraudscore simulate`` and ``fraudscore produce``: make a dataset, replay it to Kafka.

``cli.main`` mounts ``app``. Every expected failure (bad option, missing file, wrong columns,
broker down) prints one red line and exits 1; a traceback means a bug.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from core.settings import Settings, get_settings
from simulator.config import SimulationConfig
from simulator.dataset import Summary, read_dataset, summarize, write_dataset
from simulator.errors import SimulatorError
from simulator.generate import generate
from simulator.produce import produce_stream

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)
out = Console()
err = Console(stderr=True, soft_wrap=True)  # an error stays one line, however narrow
_OPTION_OF = {"n_customers": "--customers", "n_terminals": "--terminals", "n_days": "--days"}
DEFAULT_DATA = Path("var/data/transactions.parquet")


def fail(message: str) -> typer.Exit:
    """Print one red line; the caller raises the returned Exit(1) ``from None``."""
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(1)


def summary_table(path: Path, s: Summary) -> Table:
    """The figures to compare with the published ones (~0.84% fraud, ~10k tx, ~85 frauds a day)."""
    table = Table(title=f"{path}", show_header=False)
    table.add_row("rows", f"{s.rows:,}")
    table.add_row("frauds", f"{s.frauds:,}")
    table.add_row("fraud rate", f"{s.fraud_rate:.3%}")
    table.add_row("days", f"{s.days}")
    table.add_row("transactions / day", f"{s.tx_per_day:,.0f}")
    table.add_row("frauds / day", f"{s.frauds_per_day:,.1f}")
    table.add_row("customers / terminals used", f"{s.customers:,} / {s.terminals:,}")
    for scenario, count in s.by_scenario.items():
        if scenario:
            table.add_row(f"scenario {scenario}", f"{count:,}")
    return table


@app.command(
    "simulate",
    epilog="Example: fraudscore simulate --customers 500 --terminals 1000 "
    "--days 60 --out var/data/small.parquet",
)
def simulate_cmd(
    out_path: Annotated[
        Path, typer.Option("--out", help="Output file, .parquet or .csv")
    ] = DEFAULT_DATA,
    customers: Annotated[int, typer.Option(help="Customers (published: 5000)")] = 5_000,
    terminals: Annotated[int, typer.Option(help="Terminals (published: 10000)")] = 10_000,
    days: Annotated[int, typer.Option(help="Days (published: 183)")] = 183,
    start: Annotated[
        datetime, typer.Option(formats=["%Y-%m-%d"], help="First day (published: 2018-04-01)")
    ] = datetime(2018, 4, 1),
    seed: Annotated[int, typer.Option(help="Random seed: same options, same dataset")] = 0,
    radius: Annotated[float, typer.Option(help="Customers use terminals this close")] = 5.0,
    attributes: Annotated[
        bool, typer.Option(help="Add MERCHANT_CATEGORY, CHANNEL and COUNTRY columns")
    ] = False,
    drift_day: Annotated[int | None, typer.Option(help="Day the drift injection starts")] = None,
    drift_amount_factor: Annotated[
        float, typer.Option(help="From --drift-day, amounts x this")
    ] = 1.0,
    drift_ecommerce_share: Annotated[
        float | None, typer.Option(help="From --drift-day, e-commerce share (needs --attributes)")
    ] = None,
    card_testing_day: Annotated[
        int | None, typer.Option(help="Day card testing (fraud scenario 4) starts")
    ] = None,
    concept_drift_day: Annotated[
        int | None,
        typer.Option(help="Day night account takeovers (fraud scenario 5, a concept drift) start"),
    ] = None,
    concept_drift_per_day: Annotated[
        float | None,
        typer.Option(help="Takeover victims per day (default: 10 per 5,000 customers)"),
    ] = None,
) -> None:
    """Generate the benchmark's labelled transactions (or a smaller or drifted variant)."""
    try:
        cfg = SimulationConfig(
            n_customers=customers,
            n_terminals=terminals,
            n_days=days,
            start_date=start.date(),
            seed=seed,
            radius=radius,
            attributes=attributes,
            drift_day=drift_day,
            drift_amount_factor=drift_amount_factor,
            drift_ecommerce_share=drift_ecommerce_share,
            card_testing_day=card_testing_day,
            concept_drift_day=concept_drift_day,
            concept_drift_per_day=concept_drift_per_day,
        )
    except ValidationError as exc:
        raise fail(_option_error(exc)) from None
    try:
        with err.status(f"generating {days} days for {customers:,} customers..."):
            df = generate(cfg)
        with err.status(f"writing {out_path}..."):
            write_dataset(df, out_path)
    except SimulatorError as exc:
        raise fail(str(exc)) from None
    out.print(summary_table(out_path, summarize(df)))


@app.command(
    "produce",
    epilog="Example: fraudscore produce --data var/data/small.parquet --rate 2000 --limit 50000",
)
def produce_cmd(
    data: Annotated[Path, typer.Option(help="Dataset from `fraudscore simulate`")] = DEFAULT_DATA,
    rate: Annotated[
        float | None, typer.Option(help="Records per second (default: as fast as possible)")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N transactions")] = None,
    id_prefix: Annotated[
        str | None, typer.Option(help="Event id prefix (default: derived from the dataset)")
    ] = None,
    labels: Annotated[
        bool, typer.Option("--labels/--no-labels", help="Also send fraud labels, 7 days late")
    ] = True,
    bootstrap: Annotated[
        str | None, typer.Option(help="Kafka bootstrap servers (default: from settings)")
    ] = None,
) -> None:
    """Replay a dataset to Kafka in event time: transactions, and fraud labels a week later."""
    if rate is not None and rate <= 0:
        raise fail("--rate must be positive")
    if limit is not None and limit < 0:
        raise fail("--limit must not be negative")
    settings = _settings(bootstrap)
    try:
        df = read_dataset(data)
        stats = produce_stream(
            df, settings, rate=rate, id_prefix=id_prefix, with_labels=labels, limit=limit
        )
    except SimulatorError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        err.print("interrupted: records still queued locally were not sent", highlight=False)
        raise typer.Exit(130) from None
    out.print(
        f"produced {stats.transactions:,} transactions to {settings.topic_transactions} and "
        f"{stats.labels:,} labels to {settings.topic_labels} in {stats.seconds:.1f} s "
        f"({stats.rate:,.0f}/s)"
    )


def _settings(bootstrap: str | None) -> Settings:
    """The process settings, with ``--bootstrap`` overriding the broker address."""
    try:
        settings = get_settings()
    except ValidationError as exc:
        raise fail(
            f"invalid FRAUDSCORE_ settings: {exc.errors(include_url=False)[0]['msg']}"
        ) from None
    if bootstrap is None:
        return settings
    return settings.model_copy(update={"kafka_bootstrap_servers": bootstrap})


def _option_error(exc: ValidationError) -> str:
    """The first config error, named by its command-line option."""
    first = exc.errors(include_url=False)[0]
    message = str(first["msg"]).removeprefix("Value error, ")
    if not first["loc"]:
        return message
    field = str(first["loc"][0])
    return f"{_OPTION_OF.get(field, '--' + field.replace('_', '-'))}: {message}"
