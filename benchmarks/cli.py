"""``fraudscore bench``: the worker against its baselines on the real broker and Redis.

``cli.main`` mounts ``app`` (``python -m benchmarks bench`` runs the same command). The steps
are in ``benchmarks.suite``. Every expected failure (broker or Redis down, a worker that does not
start, a bad model) prints one red line and exits 1; a traceback means a bug.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer
from confluent_kafka import KafkaException
from rich.console import Console

from benchmarks import report
from benchmarks.infra import BenchError
from benchmarks.suite import BenchOptions, run_bench
from core.errors import StartupError
from core.kafka import DeliveryFailed
from features.online import StoreUnavailable
from models.errors import ModelsError
from models.scorer import BACKENDS
from models.serving import NoModel

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)
out = Console()
err = Console(stderr=True, soft_wrap=True)  # an error stays one line, however narrow
EXPECTED = (
    BenchError,
    DeliveryFailed,
    StoreUnavailable,
    ModelsError,
    NoModel,
    StartupError,
    KafkaException,
)


def fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(1)


def command_line() -> str:
    prog = "fraudscore" if Path(sys.argv[0]).name == "fraudscore" else "python -m benchmarks"
    return f"{prog} {shlex.join(sys.argv[1:])}"


@app.command("bench", epilog="Example: fraudscore bench --events 60000 --rate 2000 --duration 20")
def bench_cmd(
    events: Annotated[int, typer.Option(min=2000, help="Backlog of the saturation runs")] = 60_000,
    rate: Annotated[float, typer.Option(min=1, help="Offered rate of the latency run /s")] = 2000,
    duration: Annotated[float, typer.Option(min=1, help="Seconds of the latency run")] = 20,
    near_saturation: Annotated[
        float, typer.Option(min=0, max=1, help="Also at this share of saturation (0: skip)")
    ] = 0.8,
    near_duration: Annotated[float, typer.Option(min=1, help="Seconds of that run")] = 10,
    naive_events: Annotated[int, typer.Option(min=100, help="Events of the naive run")] = 2000,
    competent_events: Annotated[
        int, typer.Option(min=100, help="Events of the competent per-event run")
    ] = 6000,
    profile_events: Annotated[int, typer.Option(min=0, help="Profiled events (0: skip)")] = 20_000,
    rules: Annotated[int, typer.Option(min=0, help="Rules of the policy row (0: skip)")] = 50,
    store_cpu: Annotated[
        bool, typer.Option(help="Measure redis-server CPU per event, one instance and a cluster")
    ] = True,
    warmup: Annotated[int, typer.Option(min=10, help="Warm-up events per latency run")] = 500,
    customers: Annotated[int, typer.Option(min=50, help="Simulated customers")] = 1000,
    history_days: Annotated[int, typer.Option(min=0, help="Days seeded into Redis first")] = 30,
    seed: Annotated[int, typer.Option(min=0, help="Simulation seed")] = 7,
    backend: Annotated[str, typer.Option(help="lightgbm or lleaves")] = "lightgbm",
    model_dir: Annotated[Path | None, typer.Option(help="Model registry root")] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Report folder")] = Path("var/bench"),
    keep: Annotated[bool, typer.Option(help="Keep the run's topics and Redis keys")] = False,
) -> None:
    """Throughput and latency of one worker process next to a naive loop and a passthrough.

    Writes OUT/report.json and OUT/report.md; worker logs and the profile go to OUT too.
    """
    chosen = next((b for b in BACKENDS if b == backend), None)
    if chosen is None:
        raise fail(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    options = BenchOptions(
        events=events,
        rate=rate,
        duration=duration,
        near_saturation=near_saturation,
        near_duration=near_duration,
        naive_events=naive_events,
        competent_events=competent_events,
        profile_events=profile_events,
        rules=rules,
        store_cpu=store_cpu,
        warmup=warmup,
        customers=customers,
        history_days=history_days,
        seed=seed,
        backend=chosen,
        model_dir=model_dir,
        out_dir=out_dir,
        keep=keep,
    )
    try:
        result = run_bench(options, out, command_line())
    except EXPECTED as exc:
        raise fail(str(exc)) from None
    json_path, md_path = report.write(result, out_dir)
    typer.echo(report.render_markdown(result))
    out.print(f"wrote {json_path} and {md_path}")


if __name__ == "__main__":
    app()
