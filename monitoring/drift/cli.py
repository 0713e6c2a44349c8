"""``fraudscore drift``: run the sidecar, make one report from two files, rebuild the index.

Errors a user can fix (a missing file, absent columns, an unreachable broker) print one red line
and exit 1; no traceback. The sidecar's reference loader reads
``<model_dir>/bundles/<version>/reference.parquet``: only that path convention is shared with
``models/``, so this package imports nothing from it.

Evidently takes 10-20 s to import, and every ``fraudscore`` command loads this module to mount
it, so the modules that import Evidently are imported inside the commands that need them.
"""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pandas as pd
import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from features.registry import FEATURE_NAMES
from monitoring.cli_common import err, fail, load_settings, out
from monitoring.drift.summary import DriftSummary
from monitoring.errors import InputDataError, MonitoringError

if TYPE_CHECKING:
    from monitoring.drift.tracker import ReferenceLoader

app = typer.Typer(
    help="Drift sidecar and reports (Evidently): HTML for people, JSON for machines.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

FastOpt = Annotated[bool, typer.Option(help="Leave Evidently's drift table out (~1.7x faster)")]
WindowOpt = Annotated[
    int | None, typer.Option(min=50, help="Samples per report (default: $FRAUDSCORE_DRIFT_WINDOW)")
]
IntervalOpt = Annotated[
    float, typer.Option(min=1.0, help="Also report every S seconds when --min-samples are held")
]
MinSamplesOpt = Annotated[int, typer.Option(min=1, help="Smallest window for a scheduled report")]
IdleOpt = Annotated[float | None, typer.Option(help="Stop after S seconds without samples")]


def bundle_reference_loader(model_dir: Path) -> ReferenceLoader:
    """Reference sample of a model version: ``<model_dir>/bundles/<version>/reference.parquet``.

    The version comes from Kafka, so anything that is not a plain version name (a ``/``, ``..``)
    is refused instead of being joined into a path.
    """

    def load(version: str) -> pd.DataFrame | None:
        if not _VERSION.match(version) or ".." in version:
            logging.getLogger(__name__).warning("refusing model version %r as a path", version)
            return None
        path = model_dir / "bundles" / version / "reference.parquet"
        return read_frame(path) if path.is_file() else None

    return load


def read_frame(path: Path) -> pd.DataFrame:
    """A parquet or CSV file as a frame; ``InputDataError`` naming the file otherwise."""
    if not path.is_file():
        raise InputDataError(f"{path}: no such file")
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            return pd.read_parquet(path)
        if name.endswith((".csv", ".csv.gz")):
            return pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise InputDataError(f"{path}: cannot read: {exc}") from exc
    raise InputDataError(f"{path}: unknown format (use .parquet or .csv)")


@app.command("run")
def run_cmd(
    once: Annotated[bool, typer.Option("--once", help="Stop after the first report")] = False,
    window: WindowOpt = None,
    interval: IntervalOpt = 300.0,
    min_samples: MinSamplesOpt = 200,
    idle_timeout: IdleOpt = None,
    fast: FastOpt = False,
) -> None:
    """Run the drift sidecar: consume fraud.samples, write reports, serve /metrics.

    Examples:

      fraudscore drift run

      FRAUDSCORE_METRICS_PORT=9109 fraudscore drift run --window 5000 --interval 600

      fraudscore drift run --once --window 500
    """
    from monitoring.drift.sidecar import run_sidecar

    settings = load_settings(**({"drift_window": window} if window is not None else {}))
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=settings.log_level.upper(),
            stream=sys.stderr,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    try:
        stats = run_sidecar(
            settings,
            reference_loader=bundle_reference_loader(settings.model_dir),
            max_runs=1 if once else None,
            idle_timeout_s=idle_timeout,
            interval_s=interval,
            min_samples=min_samples,
            table=not fast,
        )
    except MonitoringError as exc:
        raise fail(str(exc)) from None
    err.print(
        f"drift sidecar stopped: {stats.consumed} samples, {stats.invalid} invalid, "
        f"{stats.reports} report(s), {stats.events} event(s)"
    )


@app.command("report")
def report_cmd(
    reference: Annotated[Path, typer.Option(help="Reference sample (.parquet or .csv)")],
    current: Annotated[Path, typer.Option(help="Current sample (.parquet or .csv)")],
    model_version: Annotated[str, typer.Option(help="Model version to record")] = "manual",
    columns: Annotated[
        str | None, typer.Option(help="Comma-separated features (default: the feature registry)")
    ] = None,
    reports_dir: Annotated[
        Path | None, typer.Option(help="Output folder (default: $FRAUDSCORE_REPORTS_DIR)")
    ] = None,
    fast: FastOpt = False,
) -> None:
    """Compare two files once; print the summary and where the HTML report is.

    Both files need the feature columns and a `score` column.
    An `event_time` column in the current file gives the window's time range.

    Examples:

      fraudscore drift report --reference models/bundles/v3/reference.parquet --current a.parquet

      fraudscore drift report --reference ref.csv --current cur.csv --columns amount,is_night
    """
    from monitoring.drift.report import run_drift
    from monitoring.drift.store import save_report
    from monitoring.index_page import write_index

    settings = load_settings()
    folder = reports_dir or settings.reports_dir
    cols = [c.strip() for c in columns.split(",") if c.strip()] if columns else list(FEATURE_NAMES)
    try:
        summary, snapshot = run_drift(
            read_frame(reference),
            read_frame(current),
            columns=cols,
            model_version=model_version,
            table=not fast,
        )
        stored = save_report(folder, summary, snapshot, keep=settings.drift_keep)
        index = write_index(folder)
    except MonitoringError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot write the report to {folder}: {exc}") from None
    out.print(summary_table(summary))
    out.print(
        f"HTML report: {stored.html}\nsummary JSON: {stored.json}\nindex: {index}", highlight=False
    )


@app.command("index")
def index_cmd(
    reports_dir: Annotated[
        Path | None, typer.Option(help="Reports folder (default: $FRAUDSCORE_REPORTS_DIR)")
    ] = None,
) -> None:
    """Rebuild index.html of the reports folder (newest first, with status and links).

    Example: fraudscore drift index --reports-dir var/reports
    """
    from monitoring.index_page import write_index

    folder = reports_dir or load_settings().reports_dir
    if not folder.is_dir():
        raise fail(f"{folder}: no such folder")
    try:
        typer.echo(write_index(folder))
    except OSError as exc:
        raise fail(f"cannot write {folder}/index.html: {exc}") from None


def summary_table(summary: DriftSummary) -> Table:
    """The summary as a rich table: one row per feature, then the score, then the verdict."""
    status = "[red]DRIFT[/red]" if summary.status == "drift" else "[green]no drift[/green]"
    table = Table(
        box=box.SIMPLE_HEAD,
        title=f"Drift of model {summary.model_version}: {status}",
        caption=(
            f"{len(summary.drifted_columns)}/{len(summary.columns)} features drifted "
            f"({summary.share_drifted:.0%}, dataset drift at {summary.drift_share:.0%}); "
            f"score PSI {summary.score_psi:.3f}; {summary.n_current} current vs "
            f"{summary.n_reference} reference rows; {summary.duration_s:.1f}s. "
            "outside = share of values outside the reference's min..max"
        ),
    )
    table.add_column("column", no_wrap=True)  # names are what people scan for: never cut
    table.add_column("method")
    for name in ("score", "thr", "drift", "miss", "outside"):
        table.add_column(name, justify="right")
    for col in (*summary.columns, summary.score_drift):
        table.add_row(
            escape(col.name),
            escape(col.method.split(" ")[0]),  # "K-S p_value" -> "K-S": fits 80 columns
            f"{col.score:.3g}",
            f"{col.threshold:.3g}",
            "[red]yes[/red]" if col.drifted else "no",
            str(summary.missing.get(col.name, 0)),
            f"{summary.out_of_range.get(col.name, 0.0):.1%}",
        )
    return table
